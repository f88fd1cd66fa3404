"""Reductions and scans against ONNX Runtime: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax,
CumSum, over shapes, dtypes, every attribute and the opsets where they changed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import check_op, single_op_model

from tensorforge.compiler import GraphBuilder, ShapeError, from_onnx

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"]
AXES_INPUT_SINCE = {"ReduceSum": 13}  # the others: 18


def values(dtype, shape, bounded_products=False):
    """Arrays whose float sums are exact (multiples of 1/8), so only ORT's summation order
    could differ. With `bounded_products`, products of up to 256 of them stay in range."""
    kind = np.dtype(dtype).kind
    if kind == "f":
        elements = (st.sampled_from([-1.25, -1, -0.875, 0.75, 1, 1.125]) if bounded_products
                    else st.integers(-16, 16).map(lambda v: v / 8))
    else:
        elements = st.integers(-1 if bounded_products else 0 if kind == "u" else -6,
                               1 if bounded_products else 6)
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def tensor_and_axes(draw, dtypes, min_rank=1, max_dims=4, min_side=1, bounded_products=False):
    """(x, axes): an array and a random subset of its axes, some given negatively."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=min_rank, max_dims=max_dims, min_side=min_side,
                                  max_side=4))
    x = draw(values(dtype, shape, bounded_products))
    axes = draw(st.permutations(range(len(shape))))[:draw(st.integers(0, len(shape)))]
    return x, [a - len(shape) if draw(st.booleans()) else a for a in axes]


def keepdims_attr(draw):
    """keepdims 0, 1 or left to its default (1)."""
    k = draw(st.sampled_from([None, 0, 1]))
    return {} if k is None else {"keepdims": k}


def axes_input_since(op):
    return AXES_INPUT_SINCE.get(op, 18)


# -- Reduce* -------------------------------------------------------------------------------

@given(st.data())
def test_reduce_axes_attribute(data):
    op = data.draw(st.sampled_from(REDUCE_OPS))
    opset = data.draw(st.sampled_from([o for o in (11, 13, 17) if o < axes_input_since(op)]))
    x, axes = data.draw(tensor_and_axes(["float32", "float64", "int32", "int64"],
                                        bounded_products=op == "ReduceProd"))
    attrs = {"axes": axes} if axes else {}
    check_op(op, {"x": x}, opset=opset, **attrs, **keepdims_attr(data.draw))


@given(st.data())
def test_reduce_axes_attribute_opset9_positive_axes(data):
    op = data.draw(st.sampled_from(REDUCE_OPS))
    x, axes = data.draw(tensor_and_axes(["float32"], bounded_products=op == "ReduceProd"))
    attrs = {"axes": [a % x.ndim for a in axes]} if axes else {}
    check_op(op, {"x": x}, opset=9, **attrs, **keepdims_attr(data.draw))


@given(st.data())
def test_reduce_axes_input(data):
    op = data.draw(st.sampled_from(REDUCE_OPS))
    opset = data.draw(st.sampled_from([o for o in (13, 18, 21) if o >= axes_input_since(op)]))
    x, axes = data.draw(tensor_and_axes(["float32", "float64", "int32", "int64"], min_rank=0,
                                        bounded_products=op == "ReduceProd"))
    omit = not axes and data.draw(st.booleans())
    noop = data.draw(st.sampled_from([{}, {"noop_with_empty_axes": 0},
                                      {"noop_with_empty_axes": 1}]))
    check_op(op, {"x": x}, initializers={} if omit else {"axes": np.array(axes, np.int64)},
             opset=opset, input_order=["x"] if omit else ["x", "axes"], **noop,
             **keepdims_attr(data.draw))


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_reduce_empty_axis_gives_identity_of_op(op, dtype):
    check_op(op, {"x": np.zeros((2, 0, 3), dtype)}, axes=[1], opset=11)
    check_op(op, {"x": np.zeros((0, 3), dtype)}, axes=[1], keepdims=0, opset=11)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceL2", "ReduceProd"])
def test_reduce_integers(op):
    """Integer ReduceMean and ReduceL2 truncate toward zero."""
    x = np.array([[-1, -2], [-3, 2], [1, 2], [2, 2], [7, 0]], np.int32)
    check_op(op, {"x": x}, axes=[1], opset=11)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_reduce_extremes_of_bytes(op, dtype):
    x = np.array([[0, 5, 3], [7, 1, 2]], dtype)
    check_op(op, {"x": x}, axes=[1], opset=13)
    check_op(op, {"x": x}, initializers={"axes": np.array([0], np.int64)}, opset=18)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_extremes_of_bool_opset20(op):
    x = np.array([[True, False, True], [True, True, True]])
    check_op(op, {"x": x}, initializers={"axes": np.array([1], np.int64)}, opset=20)


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_float16_accumulates_wide(op):
    x = (np.ones((3, 700)) + np.linspace(0, 0.01, 700)).astype(np.float16)
    tol = (1e-2, 1e-3) if op != "ReduceProd" else (2e-2, 1e-3)
    check_op(op, {"x": x}, axes=[1], opset=11, tol=tol)


# -- ArgMax / ArgMin -----------------------------------------------------------------------

@given(st.data())
def test_arg_extreme(data):
    op = data.draw(st.sampled_from(["ArgMax", "ArgMin"]))
    opset = data.draw(st.sampled_from([9, 11, 12, 13, 21]))
    dtypes = ["float32", "float64", "int32", "int64"] + (["int8", "uint8"] if opset >= 12 else [])
    x, _ = data.draw(tensor_and_axes(dtypes))
    x = (x // 2).astype(x.dtype)  # ties, where select_last_index matters
    axis = data.draw(st.integers(-x.ndim if opset >= 11 else 0, x.ndim - 1))
    attrs = {} if axis == 0 and data.draw(st.booleans()) else {"axis": axis}
    if opset >= 12:
        attrs.update(data.draw(st.sampled_from([{}, {"select_last_index": 0},
                                                {"select_last_index": 1}])))
    check_op(op, {"x": x}, opset=opset, **attrs, **keepdims_attr(data.draw))


def test_arg_extreme_of_an_empty_axis_is_a_shape_error():
    model = single_op_model("ArgMax", {"x": np.zeros((0, 3), np.float32)}, axis=0)
    with pytest.raises(ShapeError, match="empty"):
        from_onnx(model)


# -- Softmax / LogSoftmax ------------------------------------------------------------------

def float_values(dtype, shape):
    return hnp.arrays(dtype, shape, elements=st.floats(-30, 30, width=32))


@given(st.data())
def test_softmax_coerced_to_2d_before_opset13(data):
    """Opsets < 13 normalize over all dims from `axis` (default 1) on, as one row."""
    op = data.draw(st.sampled_from(["Softmax", "LogSoftmax"]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    x = data.draw(float_values(data.draw(st.sampled_from(["float32", "float64"])), shape))
    opset = data.draw(st.sampled_from([9, 11]))
    low = -len(shape) if opset >= 11 else 0
    axis = data.draw(st.sampled_from([None, *range(low, len(shape))]))
    if axis is None and len(shape) < 2:
        axis = 0
    check_op(op, {"x": x}, opset=opset, **({} if axis is None else {"axis": axis}))


@given(st.data())
def test_softmax_single_axis_from_opset13(data):
    op = data.draw(st.sampled_from(["Softmax", "LogSoftmax"]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    x = data.draw(float_values(data.draw(st.sampled_from(["float32", "float64"])), shape))
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
    check_op(op, {"x": x}, opset=data.draw(st.sampled_from([13, 21])),
             **({} if axis is None else {"axis": axis}))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_is_stable_for_large_inputs(op):
    x = np.array([[1000.0, 999.0, -1000.0], [-5e4, -5e4, -5e4]], np.float32)
    check_op(op, {"x": x}, opset=13)
    check_op(op, {"x": x.astype(np.float16) / np.float16(100)}, opset=13)


# -- CumSum --------------------------------------------------------------------------------

@given(st.data())
def test_cumsum(data):
    opset = data.draw(st.sampled_from([11, 14]))
    dtypes = ["float32", "float64", "int32", "int64"] + (["float16"] if opset >= 14 else [])
    x, _ = data.draw(tensor_and_axes(dtypes, min_side=0))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    axis_dtype = data.draw(st.sampled_from([np.int32, np.int64]))
    axis_arr = np.array(axis if data.draw(st.booleans()) else [axis], axis_dtype)
    attrs = {k: v for k in ("exclusive", "reverse")
             if (v := data.draw(st.sampled_from([None, 0, 1]))) is not None}
    check_op("CumSum", {"x": x}, initializers={"axis": axis_arr}, opset=opset, **attrs)


def test_cumsum_axis_from_graph_input_is_a_shape_error():
    feeds = {"x": np.ones((2, 3), np.float32), "axis": np.array(1, np.int64)}
    with pytest.raises(ShapeError, match="known at compile time"):
        from_onnx(single_op_model("CumSum", feeds, opset=14))


# -- IR-level errors -----------------------------------------------------------------------

@pytest.mark.parametrize("op, attrs, match", [
    ("ReduceSum", {"axes": (2,), "keepdims": 1}, "out of range"),
    ("ReduceMax", {"axes": (0, -2), "keepdims": 0}, "repeat"),
    ("ArgMin", {"axis": -3, "keepdims": 1, "select_last_index": 0}, "out of range"),
    ("Softmax", {"axis": 2}, "out of range"),
    ("CumSum", {"axis": 5, "exclusive": 0, "reverse": 0}, "out of range"),
])
def test_bad_attributes_raise_shape_errors(op, attrs, match):
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    with pytest.raises(ShapeError, match=match):
        b.emit(op, [x], attrs)


@pytest.mark.parametrize("op, attrs", [
    ("ArgMax", {"axis": 0, "keepdims": 1, "select_last_index": 0}),
    ("LogSoftmax", {"axis": 0}),
    ("CumSum", {"axis": 0, "exclusive": 0, "reverse": 0}),
])
def test_single_axis_ops_reject_scalars(op, attrs):
    b = GraphBuilder()
    with pytest.raises(ShapeError, match="rank >= 1"):
        b.emit(op, [b.input("x", (), "float32")], attrs)


def test_bad_dtype_raises_shape_error():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "int32")
    with pytest.raises(ShapeError, match="dtype int32"):
        b.emit("Softmax", [x], {"axis": 1})
