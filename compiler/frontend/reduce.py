"""Converters for reductions and scans: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax, CumSum.

Axes given as inputs (ReduceSum from opset 13, the other reductions from 18, CumSum's axis)
are resolved at import time into attributes.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ops.reduce import normalize_axes
from ..ops.registry import normalize_axis
from .registry import converter

# Reduction op -> the opset where `axes` moved from an attribute to an optional input.
AXES_INPUT_SINCE = {"ReduceSum": 13, "ReduceMean": 18, "ReduceMax": 18, "ReduceMin": 18,
                    "ReduceProd": 18, "ReduceL2": 18}
# Reductions over no axis that ORT still maps elementwise (ReduceL2 of x is |x|): with
# noop_with_empty_axes they keep a reduction over axes=() instead of becoming an Identity.
ELEMENTWISE_NOOP = {"ReduceL2"}


def known_ints(ctx, v, what: str) -> tuple[int, ...]:
    """A compile-time integer tensor as a tuple of Python ints."""
    return tuple(int(a) for a in np.asarray(ctx.value_of(v, what)).reshape(-1))


def known_int(ctx, v, what: str) -> int:
    """A compile-time integer scalar (a 0-d or one-element tensor) as a Python int."""
    values = known_ints(ctx, v, what)
    if len(values) != 1:
        raise ShapeError(f"{what} must hold one value, given {list(values)}")
    return values[0]


def _reduce(ctx, node, axes: tuple[int, ...], noop: bool):
    x = node.inputs[0]
    rank = len(x.shape)
    if not axes and noop and node.op_type not in ELEMENTWISE_NOOP:
        return ctx.emit1("Identity", [x])
    axes = () if not axes and noop else normalize_axes(axes or tuple(range(rank)), rank)
    return ctx.emit1(node.op_type, [x], {"axes": axes, "keepdims": int(node.attr("keepdims", 1))})


def convert_reduce_axes_attr(ctx, node):
    return _reduce(ctx, node, tuple(node.attr("axes", ())), noop=False)


def convert_reduce_axes_input(ctx, node):
    axes = node.input(1)
    return _reduce(ctx, node, () if axes is None else known_ints(ctx, axes, "axes"),
                   noop=bool(node.attr("noop_with_empty_axes", 0)))


for _op, _since in AXES_INPUT_SINCE.items():
    converter(_op, since=1)(convert_reduce_axes_attr)
    converter(_op, since=_since)(convert_reduce_axes_input)


@converter("ArgMax", "ArgMin", since=1)
def convert_arg(ctx, node):
    """select_last_index exists from opset 12 on; before, it is 0."""
    return ctx.emit1(node.op_type, [node.inputs[0]], {
        "axis": normalize_axis(node.attr("axis", 0), len(node.inputs[0].shape)),
        "keepdims": int(node.attr("keepdims", 1)),
        "select_last_index": int(node.attr("select_last_index", 0))})


@converter("Softmax", "LogSoftmax", since=1)
def convert_softmax_2d(ctx, node):
    """Before opset 13 the input is seen as a matrix [prod(dims < axis), prod(dims >= axis)]
    (axis default 1) and normalized along its rows: Reshape -> op(axis=1) -> Reshape back."""
    x = node.inputs[0]
    rank = len(x.shape)
    axis = normalize_axis(node.attr("axis", 1), rank)
    if axis == rank - 1:
        return ctx.emit1(node.op_type, [x], {"axis": axis})
    rows = (int(np.prod(x.shape[:axis], dtype=np.int64)),
            int(np.prod(x.shape[axis:], dtype=np.int64)))
    flat = ctx.emit1("Reshape", [x], {"shape": rows})
    y = ctx.emit1(node.op_type, [flat], {"axis": 1})
    return ctx.emit1("Reshape", [y], {"shape": tuple(x.shape)})


@converter("Softmax", "LogSoftmax", since=13)
def convert_softmax(ctx, node):
    x = node.inputs[0]
    return ctx.emit1(node.op_type, [x], {"axis": normalize_axis(node.attr("axis", -1),
                                                                len(x.shape))})


@converter("CumSum", since=11)
def convert_cumsum(ctx, node):
    x = node.inputs[0]
    return ctx.emit1("CumSum", [x], {
        "axis": normalize_axis(known_int(ctx, node.inputs[1], "CumSum's axis"), len(x.shape)),
        "exclusive": int(node.attr("exclusive", 0)), "reverse": int(node.attr("reverse", 0))})
