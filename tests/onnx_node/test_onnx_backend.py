"""tensorforge.onnx_backend: the onnx.backend.base contract, checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

import tensorforge.onnx_backend as backend
from tensorforge.compiler.errors import InputError, UnsupportedModelError
from tensorforge.runtime.module import Module


def model(nodes, inputs, outputs, opset=17):
    """A model over `nodes`; inputs and outputs are (name, elem type, shape) triples."""
    info = lambda n, t, s: helper.make_tensor_value_info(n, t, s)  # noqa: E731
    graph = helper.make_graph(nodes, "g", [info(*i) for i in inputs],
                              [info(*o) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


F = TensorProto.FLOAT
RELU = model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [3, 5])], [("y", F, [3, 5])])
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("device, ok", [("CPU", True), ("CPU:0", True), ("CUDA", False),
                                        ("CUDA:1", False), ("TPU", False)])
def test_supports_device(device, ok):
    assert backend.supports_device(device) is ok


def test_prepare_refuses_other_devices():
    with pytest.raises(backend.UnsupportedDeviceError, match="CPU only.*CUDA"):
        backend.prepare(RELU, "CUDA")


def test_prepare_compiles_through_the_pipeline():
    rep = backend.prepare(RELU)
    assert [type(m) for m in rep.modules.values()] == [Module]
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    out = rep.run([x])
    np.testing.assert_array_equal(out[0], np.maximum(x, 0))
    np.testing.assert_array_equal(out["y"], out.y)
    np.testing.assert_array_equal(rep.run({"x": x})[0], out[0])


@pytest.mark.parametrize("bad, why", [
    (model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [2])], [("y", F, [2])],
           opset=8), "opset 8 outside"),
    (model([helper.make_node("Relu", ["x"], ["y"])], [("x", TensorProto.BFLOAT16, [2])],
           [("y", TensorProto.BFLOAT16, [2])], opset=22), "NumPy equivalent: BFLOAT16"),
    (model([helper.make_node("TopK", ["x", "k"], ["v", "i"])],
           [("x", F, [4]), ("k", TensorProto.INT64, [1])],
           [("v", F, [None]), ("i", TensorProto.INT64, [None])]), "op not converted: TopK"),
])
def test_unsupported_models_are_refused_up_front(bad, why):
    assert not backend.is_compatible(bad)
    assert why in backend.unsupported_reason(bad)
    with pytest.raises(UnsupportedModelError, match=why):
        backend.prepare(bad)


def dropout_model(r_init=None):
    """Dropout(x, r, t) with t a graph input, r a graph input or an initializer."""
    inits = [] if r_init is None else [helper.make_tensor("r", F, [], [r_init])]
    inputs = [("x", F, [2, 3]), ("t", TensorProto.BOOL, [])] + (
        [("r", F, [])] if r_init is None else [])
    m = model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")], inputs,
              [("y", F, [2, 3])], opset=13)
    m.graph.initializer.extend(inits)
    return m


@pytest.mark.parametrize("r_init, feeds, random", [
    (None, {}, False),                                    # decided when it compiles
    (None, {"t": np.bool_(False)}, False),                # inference: the identity
    (None, {"t": np.bool_(True), "r": np.float32(0)}, False),
    (None, {"t": np.bool_(True), "r": np.float32(0.5)}, True),
    (0.0, {}, False),                                     # ratio 0 whatever training_mode
    (0.2, {}, False),                                     # training_mode: decided then too
    (0.2, {"t": np.bool_(True)}, True),
    (0.2, {"t": np.bool_(False)}, False),
])
def test_random_dropout_is_not_claimed(r_init, feeds, random):
    why = backend.unsupported_reason(dropout_model(r_init), feeds)
    assert (why is not None) == random
    assert not random or ("Dropout 'drop'" in why and "random" in why)


def test_dropout_training_mode_fed_at_run_time():
    """The identity with ratio 0; refused naming the node when the fed value makes it random."""
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    rep = backend.prepare(dropout_model(0.0))
    np.testing.assert_array_equal(rep.run({"x": x, "t": np.bool_(True)})[0], x)
    rep = backend.prepare(dropout_model())
    inference = {"x": x, "t": np.bool_(False), "r": np.float32(1)}
    np.testing.assert_array_equal(rep.run(inference)[0], x)
    with pytest.raises(UnsupportedModelError, match="(?s)random.*drop"):
        rep.run({"x": x, "t": np.bool_(True), "r": np.float32(0.5)})


def test_outputs_come_in_graph_order():
    nodes = [helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Abs", ["x"], ["b"])]
    m = model(nodes, [("x", F, [4])], [("b", F, [4]), ("a", F, [4])])
    x = RNG.standard_normal(4).astype(np.float32)
    b, a = backend.run_model(m, [x])
    np.testing.assert_array_equal(b, np.abs(x))
    np.testing.assert_array_equal(a, -x)


def test_wrong_input_count_is_an_input_error():
    with pytest.raises(InputError, match="takes 1 input"):
        backend.prepare(RELU).run([np.zeros((3, 5), np.float32)] * 2)


def test_parameter_inputs_are_bound_at_run_and_recompiled_per_value():
    """Reshape's shape fed as an input: compiled at the first run, once per shape value."""
    m = model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
              [("x", F, [2, 6]), ("shape", TensorProto.INT64, [2])], [("y", F, [None, None])])
    rep = backend.prepare(m)
    assert rep.modules == {}
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    for shape in ([3, 4], [4, 3], [3, 4]):
        y, = rep.run([x, np.array(shape, np.int64)])
        np.testing.assert_array_equal(y, x.reshape(shape))
    assert rep.bound == {"shape"} and len(rep.modules) == 2


def test_dynamic_dimensions_take_the_fed_shapes():
    m = model([helper.make_node("Sigmoid", ["x"], ["y"])], [("x", F, ["n", 3])],
              [("y", F, ["n", 3])])
    rep = backend.prepare(m)
    for n in (1, 7):
        x = RNG.standard_normal((n, 3)).astype(np.float32)
        y, = rep.run([x])
        np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)


shapes = st.lists(st.integers(1, 19), min_size=1, max_size=3)


@given(shapes, st.data())
def test_run_node_broadcast_add_matches_numpy(shape, data):
    """Shapes off the vector width, with size-1 dims broadcast from either side."""
    other = [data.draw(st.sampled_from([d, 1])) for d in shape][data.draw(st.integers(0, 1)):]
    a = RNG.standard_normal(shape).astype(np.float32)
    b = RNG.standard_normal(other).astype(np.float32)
    out, = backend.run_node(helper.make_node("Add", ["a", "b"], ["c"]), [a, b])
    np.testing.assert_allclose(out, a + b, rtol=1e-6)


@given(shapes, st.data())
def test_run_node_softmax_matches_numpy(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = RNG.standard_normal(shape).astype(np.float32)
    node = helper.make_node("Softmax", ["x"], ["y"], axis=axis)
    out, = backend.run_node(node, {"x": x}, opset_version=13)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-6)


def test_run_node_checks_its_opset():
    node = helper.make_node("Relu", ["x"], ["y"])
    with pytest.raises(UnsupportedModelError, match="opset 8 outside"):
        backend.run_node(node, [np.zeros(3, np.float32)], opset_version=8)
