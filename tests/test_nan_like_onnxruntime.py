"""NaN and ±inf through max/min ops, placed at random positions, against ONNX Runtime.

ORT's CPU kernels scan a reduced range from its first element and let another replace it only
when larger (smaller), so a NaN counts only as the first element. TensorForge follows that rule
everywhere (docs/robustness.md). ORT itself follows it exactly for ArgMax/ArgMin and for
ReduceMax/ReduceMin over leading or middle axes; over the innermost axes its Eigen reduction
combines SIMD lanes in an order that depends on the input's address, and its pools run MLAS's
lane order, so there the compiled code is held to the NumPy reference of the rule
(compiler/ops), and to ORT on inputs without NaN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper

import tensorforge
from oracle import assert_close, make_model, run_ort
from tensorforge.compiler import from_onnx
from tensorforge.compiler.reference import run_graph

SPECIALS = (np.nan, np.inf, -np.inf)


@st.composite
def specials(draw, shape, values=SPECIALS, ties=False):
    """A float32 array of `shape` with 1 to 4 of `values` at random positions (and small
    integers, so equal values tie, when `ties`)."""
    size = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = (rng.integers(-2, 3, size) if ties else rng.standard_normal(size)).astype(np.float32)
    for _ in range(draw(st.integers(1, 4))):
        x[draw(st.integers(0, size - 1))] = draw(st.sampled_from(values))
    return x.reshape(shape)


shapes = st.lists(st.sampled_from([1, 2, 3, 5, 8, 17, 33]), min_size=1, max_size=3).map(tuple)
shapes = shapes.filter(lambda s: np.prod(s) <= 2000)


def compiled_and_ort(node, x):
    model = make_model([node], {"x": x}, ["y"])
    return tensorforge.compile(model).run(x=x)[0], run_ort(model, {"x": x})[0], model


def check_exact(node, x):
    got, want, _ = compiled_and_ort(node, x)
    assert_close(got, want, f"{node.op_type} of {x.tolist()}", (0, 0))


def reference(model, x):
    graph = from_onnx(model)
    return run_graph(graph, {graph.inputs[0]: x})[0]


@given(st.data(), shapes.filter(lambda s: len(s) >= 2), st.sampled_from(["ReduceMax", "ReduceMin"]))
def test_reduce_over_leading_axes_matches_onnxruntime_exactly(data, shape, op):
    """Every axis set that leaves the last axis kept: ORT scans these in order."""
    axes = data.draw(st.lists(st.integers(0, len(shape) - 2), min_size=1, unique=True))
    x = data.draw(specials(shape))
    check_exact(helper.make_node(op, ["x"], ["y"], axes=sorted(axes),
                                 keepdims=data.draw(st.sampled_from([0, 1]))), x)


@given(st.data(), shapes, st.sampled_from(["ArgMax", "ArgMin"]), st.sampled_from([0, 1]))
def test_argmax_argmin_match_onnxruntime_exactly(data, shape, op, last):
    """Any axis, ties and select_last_index included."""
    x = data.draw(specials(shape, ties=True))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_exact(helper.make_node(op, ["x"], ["y"], axis=axis, select_last_index=last,
                                 keepdims=data.draw(st.sampled_from([0, 1]))), x)


@st.composite
def max_pools(draw):
    nd = draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 4)) for _ in range(nd)]
    pads = [draw(st.integers(0, k - 1)) for k in kernel * 2]
    attrs = dict(kernel_shape=kernel, pads=pads, strides=[draw(st.integers(1, 3)) for _ in kernel],
                 dilations=[draw(st.integers(1, 2)) for _ in kernel],
                 ceil_mode=draw(st.sampled_from([0, 1])))
    sizes = [draw(st.integers((k - 1) * 2 + 1, 9)) for k in kernel]
    return helper.make_node("MaxPool", ["x"], ["y"], **attrs), (1, 2, *sizes)


@st.composite
def rule_cases(draw):
    """Ops where ORT's NaN handling is its SIMD lane order: ReduceMax/Min over trailing axes,
    MaxPool, GlobalMaxPool."""
    kind = draw(st.sampled_from(["reduce", "maxpool", "global"]))
    if kind == "maxpool":
        return draw(max_pools())
    shape = draw(shapes.filter(lambda s: len(s) >= (3 if kind == "global" else 1)))
    if kind == "global":
        return helper.make_node("GlobalMaxPool", ["x"], ["y"]), shape
    op = draw(st.sampled_from(["ReduceMax", "ReduceMin"]))
    first = draw(st.integers(0, len(shape) - 1))
    return helper.make_node(op, ["x"], ["y"], axes=list(range(first, len(shape))),
                            keepdims=draw(st.sampled_from([0, 1]))), shape


@given(st.data(), rule_cases())
def test_lane_ordered_ops_follow_the_scan_rule_and_onnxruntime_without_nan(data, case):
    """With NaN: the compiled code equals the rule's NumPy reference exactly. With ±inf only:
    it equals ORT exactly."""
    node, shape = case
    x = data.draw(specials(shape))
    model = make_model([node], {"x": x}, ["y"])
    got = tensorforge.compile(model).run(x=x)[0]
    assert_close(got, reference(model, x), f"{node.op_type} of {x.tolist()}", (0, 0))
    check_exact(node, np.where(np.isnan(x), np.float32(0), x))


@given(st.data(), shapes, st.sampled_from(["Max", "Min", "Relu", "Clip"]))
def test_elementwise_max_min_match_onnxruntime(data, shape, op):
    """Elementwise max/min propagate a NaN from either side, as ORT does."""
    x = data.draw(specials(shape))
    if op in ("Max", "Min"):
        y = data.draw(specials(shape))
        model = make_model([helper.make_node(op, ["x", "w"], ["y"])], {"x": x}, ["y"], {"w": y})
    else:
        attrs = {"min": -1.0, "max": 1.0} if op == "Clip" else {}
        model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, ["y"],
                           opset=10 if op == "Clip" else 17)
    assert_close(tensorforge.compile(model).run(x=x)[0], run_ort(model, {"x": x})[0],
                 f"{op} of {x.tolist()}", (0, 0))


@pytest.mark.parametrize("row, want", [
    ([np.nan, 3, 1, 2], np.nan), ([3, np.nan, 1, 2], 3), ([3, 1, 2, np.nan], 3),
    ([np.nan, np.nan], np.nan), ([-np.inf, np.nan, 1, 2], 2), ([np.inf, np.nan], np.inf)])
def test_the_scan_rule_on_rows(row, want):
    """The rule itself, on one row: a NaN counts only as the first element."""
    x = np.array([row], np.float32)
    got, _, _ = compiled_and_ort(helper.make_node("ReduceMax", ["x"], ["y"], axes=[1]), x)
    np.testing.assert_array_equal(got, np.array([[want]], np.float32))
