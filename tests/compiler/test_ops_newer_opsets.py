"""What opsets 22..28 changed (docs/opset-changes.md): SpaceToDepth's mode (28), Mod's floor
modulo of floats (28), Range's stash_type (27), pools that drop a ceil_mode window starting in
the end padding (22), and element types without a NumPy dtype, refused at import.

ONNX Runtime lacks kernels for some of these versions, so the oracle is onnx's own reference
implementation (onnx.reference), run on the same model."""

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from oracle import check_onnx_reference, check_op, single_op_model, tensor_info
from tensorforge.compiler import ShapeError, UnsupportedModelError, from_onnx
from tensorforge.compiler.frontend import MAX_OPSET

from nn_helpers import randn


def test_frontend_reaches_the_newest_opset_onnx_defines():
    assert MAX_OPSET == onnx.defs.onnx_opset_version()


# -- SpaceToDepth-28: mode ---------------------------------------------------------------------

@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.sampled_from(["DCR", "CRD", None]))
def test_space_to_depth_modes(data, blocksize, channels, mode):
    h, w = (data.draw(st.integers(1, 3)) * blocksize for _ in range(2))
    x = randn(data.draw, [data.draw(st.integers(1, 2)), channels, h, w])
    attrs = {"mode": mode} if mode else {}
    check_onnx_reference(single_op_model("SpaceToDepth", {"x": x}, opset=28,
                                         blocksize=blocksize, **attrs), {"x": x})


def test_space_to_depth_unknown_mode():
    x = np.zeros((1, 1, 2, 2), np.float32)
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], name="s2d", blocksize=2, mode="RCD")
    graph = helper.make_graph([node], "g", [tensor_info("x", x.shape, x.dtype)],
                              [tensor_info("y", (1, 4, 1, 1), x.dtype)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)])
    with pytest.raises(ShapeError, match="s2d.*mode 'RCD'"):
        from_onnx(model)


# -- Mod-28: fmod=0 on floats is floor modulo ------------------------------------------------

EDGES = np.array([0.0, -0.0, 3.0, -3.0, 1.0, np.inf, -np.inf, np.nan], np.float32)


@given(st.data(), st.sampled_from(["float16", "float32", "float64"]))
def test_mod_floor_of_floats(data, dtype):
    shape = data.draw(st.sampled_from([(), (1,), (3,), (2, 5)]))
    a = randn(data.draw, shape, dtype) * 4
    b = randn(data.draw, shape, dtype) + np.asarray(0.5, dtype)
    check_onnx_reference(single_op_model("Mod", {"a": a, "b": b}, opset=28), {"a": a, "b": b})


def test_mod_floor_special_values():
    a, b = (g.ravel() for g in np.meshgrid(EDGES, EDGES))
    check_onnx_reference(single_op_model("Mod", {"a": a, "b": b}, opset=28), {"a": a, "b": b})


def test_mod_floor_of_floats_is_refused_before_opset_28():
    a = np.ones(2, np.float32)
    with pytest.raises(ShapeError, match="mod_node.*requires fmod=1 before opset 28"):
        from_onnx(single_op_model("Mod", {"a": a, "b": a}, opset=21))


# -- Range-27: stash_type --------------------------------------------------------------------

def range_model(dtype, start=1.5, limit=40.0, delta=0.75, **attrs):
    inits = {k: np.array(v, dtype) for k, v in (("s", start), ("l", limit), ("d", delta))}
    return single_op_model("Range", {}, initializers=inits, opset=27, **attrs)


@pytest.mark.parametrize("dtype,stash", [("float16", None), ("float16", TensorProto.DOUBLE),
                                         ("float32", None), ("float32", TensorProto.FLOAT16)])
def test_range_accumulates_float16_in_float(dtype, stash):
    attrs = {} if stash is None else {"stash_type": stash}
    check_onnx_reference(range_model(dtype, **attrs), {})


def test_range_of_ints_ignores_stash_type():
    check_onnx_reference(range_model("int32", 2, 40, 3, stash_type=TensorProto.FLOAT16), {})


def test_range_float16_accumulation_is_refused():
    with pytest.raises(UnsupportedModelError, match="stash_type=10"):
        from_onnx(range_model("float16", stash_type=TensorProto.FLOAT16))


# -- pools-22: a ceil_mode window starting in the end padding is dropped ----------------------

@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("size,kernel,stride,pads", [(3, 2, 3, (0, 1)), (5, 2, 2, (1, 1)),
                                                     (4, 3, 2, (1, 2)), (1, 2, 2, (0, 1))])
def test_pool_ceil_mode_drops_windows_in_padding(op, size, kernel, stride, pads):
    x = np.random.default_rng(size).standard_normal((1, 2, size, size)).astype(np.float32)
    check_op(op, {"x": x}, opset=22, kernel_shape=[kernel] * 2, strides=[stride] * 2,
             pads=[pads[0], pads[0], pads[1], pads[1]], ceil_mode=1)


# -- element types without a NumPy dtype -----------------------------------------------------

NO_NUMPY = [TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E5M2FNUZ,
            TensorProto.FLOAT8E8M0, TensorProto.INT4, TensorProto.UINT4, TensorProto.FLOAT4E2M1,
            TensorProto.INT2, TensorProto.STRING]


def typed_model(elem: int, where: str) -> onnx.ModelProto:
    """An Identity or Cast model holding `elem` as a graph input, an initializer or a Cast
    target."""
    val = helper.make_tensor_value_info
    if where == "cast":
        nodes = [helper.make_node("Cast", ["x"], ["y"], name="c", to=elem)]
        ins, outs, inits = [val("x", TensorProto.FLOAT, [2])], [val("y", elem, [2])], []
    else:
        nodes = [helper.make_node("Identity", ["x"], ["y"], name="c")]
        ins, outs = [val("x", elem, [2])], [val("y", elem, [2])]
        vals = [b"a", b"b"] if elem == TensorProto.STRING else [1, 0]
        inits = [helper.make_tensor("x", elem, [2], vals)] if where == "initializer" else []
        ins = [] if inits else ins
    model = helper.make_model(helper.make_graph(nodes, "g", ins, outs, inits),
                              opset_imports=[helper.make_opsetid("", 25)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("elem", NO_NUMPY, ids=TensorProto.DataType.Name)
@pytest.mark.parametrize("where", ["input", "initializer", "cast"])
def test_types_without_numpy_dtype_are_refused_at_import(elem, where):
    with pytest.raises(UnsupportedModelError) as err:
        from_onnx(typed_model(elem, where))
    msg = str(err.value)
    assert TensorProto.DataType.Name(elem) in msg and "without a NumPy dtype" in msg
    assert ("'c'" if where == "cast" else "'x'") in msg
