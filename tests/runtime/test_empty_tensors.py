"""Zero-size tensors (issue #8) through compile() against ONNX Runtime: empty model inputs,
intermediates and outputs, across op families, at opt_level 0 (every op its own kernel: the
lowering's rules) and 3 (the passes fold what an empty value determines).

The rules under test: an empty tensor is a legal value; a kernel whose outputs are all empty
is not built; a reduction over an empty set is its identity (sum 0, prod 1, max lowest, ...);
an empty value never takes arena bytes or a kernel parameter; where ONNX Runtime refuses an
empty input, TensorForge gives a clear error.
"""

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from oracle import assert_close, check_model, make_model, run_ort

import tensorforge
from tensorforge.compiler import InputError, ShapeError
from tensorforge.compiler.topi import LoweringError

N = helper.make_node
F32 = np.float32


def ints(values) -> np.ndarray:
    return np.array(values, np.int64)


def check(model, feeds):
    """Reference (before and after optimize) and compiled modules at opt_level 0 and 3 all
    give ONNX Runtime's outputs; returns the opt_level 0 module."""
    want = check_model(model, feeds)
    modules = [tensorforge.compile(model, opt_level=level) for level in (0, 3)]
    for mod in modules:
        got = mod.run(**feeds)
        for k, (a, b) in enumerate(zip(got, want)):
            assert_close(a, b, f"output {k}, {len(mod.kernels)} kernels")
    return modules[0]


@st.composite
def empty_shapes(draw, min_rank=1):
    """A shape of rank min_rank..4 with at least one 0."""
    shape = list(draw(hnp.array_shapes(min_dims=min_rank, max_dims=4, min_side=0, max_side=4)))
    if 0 not in shape:
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    return tuple(shape)


@st.composite
def broadcast_partner(draw, shape):
    """A shape that broadcasts against `shape`: a suffix of it, some dims replaced by 1."""
    suffix = shape[draw(st.integers(0, len(shape))):]
    return tuple(1 if draw(st.booleans()) else d for d in suffix)


# ------------------------------------------------------------------ op families


@given(st.data())
def test_elementwise_with_broadcasting(data):
    shape = data.draw(empty_shapes())
    other = data.draw(broadcast_partner(shape))
    x, y = np.zeros(shape, F32), np.ones(other, F32)
    if data.draw(st.booleans()):
        x, y = y.reshape(other), x                 # the empty side on the right
    binary = data.draw(st.sampled_from(["Add", "Mul", "Max", "Sub"]))
    unary = data.draw(st.sampled_from(["Relu", "Exp", "Neg", "Sigmoid"]))
    model = make_model([N(binary, ["x", "y"], ["t"]), N(unary, ["t"], ["z"])],
                       {"x": x, "y": y}, ["z"])
    check(model, {"x": x, "y": y})


REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"]


@given(st.data())
def test_reductions_over_empty_sets_give_the_identity(data):
    """Reduced axes may or may not hold the 0; the result may be empty or a fill."""
    shape = data.draw(empty_shapes())
    op = data.draw(st.sampled_from(REDUCE))
    dtype = data.draw(st.sampled_from(["float32", "int32", "int64"]))
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape),
                              unique_by=lambda a: a % len(shape)))
    keepdims = data.draw(st.integers(0, 1))
    x = np.zeros(shape, dtype)
    inits = {"axes": ints(axes)} if axes else {}
    node = N(op, ["x", *inits], ["r"], keepdims=keepdims)
    nodes = [node, N("Abs", ["r"], ["z"])] if data.draw(st.booleans()) else [node]
    check(make_model(nodes, {"x": x}, [nodes[-1].output[0]], inits, opset=18), {"x": x})


@pytest.mark.parametrize("op, identity", [("ReduceMax", False), ("ReduceMin", True)])
def test_bool_extremes_of_an_empty_set(op, identity):
    """ONNX Runtime refuses these ("not defined for empty set with bool type"); the spec's
    reference (onnx.reference, test_reduce_max_empty_set_bool) gives the identity."""
    x = np.zeros((2, 0, 3), bool)
    model = make_model([N(op, ["x", "axes"], ["y"])], {"x": x}, ["y"], {"axes": ints([1])},
                       opset=20)
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    assert_close(want, np.full((2, 1, 3), identity))
    for level in (0, 3):
        assert_close(tensorforge.compile(model, opt_level=level).run(x=x)[0], want)


@given(st.data())
def test_matrix_products_with_a_zero_dimension(data):
    """M, K or N zero; K = 0 is a product over an empty set: the bias alone."""
    m, k, n = data.draw(st.lists(st.integers(0, 3), min_size=3, max_size=3).filter(
        lambda d: 0 in d))
    batch = data.draw(st.sampled_from([(), (2,), (0,)]))
    x = np.random.default_rng(0).standard_normal(batch + (m, k)).astype(F32)
    inits = {"w": np.full((k, n), 0.5, F32), "b": np.arange(n, dtype=F32) - 1}
    if data.draw(st.booleans()) and not batch:
        nodes = [N("Gemm", ["x", "w", "b"], ["t"], beta=2.0)]
    else:
        nodes = [N("MatMul", ["x", "w"], ["p"]), N("Add", ["p", "b"], ["t"])]
    nodes.append(N("Relu", ["t"], ["y"]))
    check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x})


@given(st.data())
def test_concat_split_and_slice_with_empty_pieces(data):
    shape = tuple(data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)))
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = np.arange(int(np.prod(shape)), dtype=F32).reshape(shape) - 3
    inits = {"split": ints([0, shape[axis]]), "start": ints([shape[axis] + 2]),
             "end": ints([shape[axis] + 5]), "axes": ints([axis])}
    nodes = [N("Split", ["x", "split"], ["empty", "whole"], axis=axis),
             N("Slice", ["x", "start", "end", "axes"], ["gone"]),       # clamped: empty
             N("Concat", ["gone", "whole", "empty", "x"], ["c"], axis=axis),
             N("Relu", ["c"], ["y"])]
    check(make_model(nodes, {"x": x}, ["y", "empty"], inits), {"x": x})


@given(st.data())
def test_data_movement(data):
    shape = data.draw(empty_shapes())
    x = np.zeros(shape, F32)
    perm = data.draw(st.permutations(range(len(shape))))
    kind = data.draw(st.sampled_from(["Transpose", "Flatten", "Pad", "Softmax"]))
    if kind == "Transpose":
        nodes, inits = [N("Transpose", ["x"], ["y"], perm=perm)], {}
    elif kind == "Flatten":
        nodes, inits = [N("Flatten", ["x"], ["y"], axis=data.draw(
            st.integers(0, len(shape))))], {}
    elif kind == "Pad":   # constant mode: the pads of an empty input are all fill
        pads = data.draw(st.lists(st.integers(0, 2), min_size=2 * len(shape),
                                  max_size=2 * len(shape)))
        nodes, inits = [N("Pad", ["x", "pads", "value"], ["y"])], {"pads": ints(pads),
                                                                    "value": F32(1.5)}
    else:
        nodes, inits = [N("Softmax", ["x"], ["y"], axis=perm[0])], {}
    check(make_model(nodes, {"x": x}, ["y"], inits), {"x": x})


@pytest.mark.parametrize("x_shape, w_shape, pads", [
    ((0, 2, 5, 5), (3, 2, 3, 3), (0, 0, 0, 0)),    # no images
    ((1, 0, 5, 5), (3, 0, 3, 3), (0, 0, 0, 0)),    # no input channels: the bias
    ((1, 2, 0, 4), (3, 2, 1, 1), (1, 1, 1, 1)),    # an empty image read through its padding
], ids=["batch", "channels", "rows"])
def test_convolution_of_empty_inputs(x_shape, w_shape, pads):
    x = np.zeros(x_shape, F32)
    inits = {"w": np.ones(w_shape, F32), "b": np.arange(3, dtype=F32)}
    check(make_model([N("Conv", ["x", "w", "b"], ["y"], pads=list(pads))], {"x": x}, ["y"],
                     inits), {"x": x})


# ------------------------------------------------------------------ model inputs and runtime


def dynamic_model() -> onnx.ModelProto:
    """x: float32[n, 3] -> (relu(x @ w): [n, 4], sum of it: scalar)."""
    graph = helper.make_graph(
        [N("MatMul", ["x", "w"], ["t"]), N("Relu", ["t"], ["y"]),
         N("ReduceSum", ["t"], ["s"], keepdims=0)], "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
        [onnx.numpy_helper.from_array(np.ones((3, 4), F32), "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("opt_level", [0, 3])
def test_a_dynamic_dimension_given_as_zero(opt_level, tmp_path):
    """compile(inputs={"x": (0, 3)}): empty outputs of the right dtype, the sum 0, the same
    after save/load; a non-empty feed is an InputError for the shape compiled."""
    model, x = dynamic_model(), np.zeros((0, 3), F32)
    mod = tensorforge.compile(model, inputs={"x": (0, 3)}, opt_level=opt_level)
    want = run_ort(model, {"x": x})
    mod.save(tmp_path / "m.tfm")
    for m in (mod, tensorforge.load(tmp_path / "m.tfm")):
        for got, ref in zip(m.run(x=x), want):
            assert_close(got, ref)
    with pytest.raises(InputError, match=r"expects float32\[0, 3\]"):
        mod.run(x=np.zeros((2, 3), F32))


def test_empty_values_take_no_kernel_and_no_arena(tmp_path):
    """Unoptimized, only the sum over the empty set (a fill of 0) is a kernel; optimized,
    everything folds into constants, and the module saves and loads."""
    x = np.zeros((4, 0, 2), F32)
    nodes = [N("Exp", ["x"], ["e"]), N("Transpose", ["e"], ["t"], perm=[2, 0, 1]),
             N("Add", ["t", "t"], ["y"]), N("ReduceSum", ["e"], ["s"], keepdims=0)]
    model = make_model(nodes, {"x": x}, ["y", "s"])
    mod = check(model, {"x": x})
    assert [k.name for k in mod.kernels] == ["k03_reducesum"]
    assert mod.memory_plan.arena_bytes == 0
    folded = tensorforge.compile(model)
    folded.save(tmp_path / "m.tfm")
    loaded = tensorforge.load(tmp_path / "m.tfm")
    assert loaded.kernels == ()
    for got, want in zip(loaded.run(x=x), run_ort(model, {"x": x})):
        assert_close(got, want)


def test_an_empty_initializer():
    x = np.ones((2, 3), F32)
    inits = {"c": np.zeros((0, 3), F32)}
    nodes = [N("Concat", ["x", "c"], ["y"], axis=0), N("ReduceMax", ["c"], ["m"], keepdims=0)]
    check(make_model(nodes, {"x": x}, ["y", "m"], inits), {"x": x})


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("shape, kernel", [((0, 2, 0, 4), [1, 1]), ((0, 2, 1, 3), [2, 2])])
def test_pools_with_n_zero_where_no_window_fits(op, shape, kernel):
    """With N == 0, ORT pools an empty spatial axis, or one the kernel does not fit, into a
    length-0 axis (found by the fuzzer: MaxPool of float32[0, 1, 0, 1], kernel [1, 1])."""
    x = np.zeros(shape, F32)
    check(make_model([N(op, ["x"], ["y"], kernel_shape=kernel)], {"x": x}, ["y"]), {"x": x})


# ------------------------------------------------------------------ refusals


def test_reading_an_element_of_an_empty_tensor_is_a_lowering_error():
    """Gather from an empty axis with indices known only at run time (ORT fails at run)."""
    x, i = np.zeros((0, 3), F32), ints([0, 0])
    model = make_model([N("Gather", ["x", "i"], ["y"])], {"x": x, "i": i}, ["y"])
    with pytest.raises(LoweringError, match=r"Gather node .* reads the empty tensor %x "
                                            r"float32\[0, 3\]"):
        tensorforge.compile(model, opt_level=0)


@pytest.mark.parametrize("node", [
    N("GlobalMaxPool", ["x"], ["y"]),
    N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
    N("Pad", ["x", "pads"], ["y"], mode="edge"),
], ids=["globalmaxpool", "maxpool", "pad-edge"])
def test_ops_onnxruntime_refuses_on_empty_inputs_are_shape_errors(node):
    x = np.zeros((1, 2, 0, 4), F32)
    model = make_model([node], {"x": x}, ["y"], {"pads": ints([0, 0, 1, 0] * 2)}
                       if node.op_type == "Pad" else {})
    with pytest.raises(Exception):
        run_ort(model, {"x": x})
    with pytest.raises(ShapeError, match="empty"):
        tensorforge.compile(model)
