"""Reductions as tensor expressions: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax, CumSum.

`reduction` is the one place that builds a reduce. When the reduced axes are the trailing
ones ("rows": softmax over the last axis, layer-norm, global pools, most Reduce*), it builds
a vectorizable form, the rfactor of TVM written out, with LANES partial accumulators:

    partial[r, l] = combine over (k..., ko) of src(r, k..., ko * LANES + l)   (tag row_partial)
    lanes[r]      = combine over l < LANES of partial[r, l]                  (tag row_reduce)
    tail[r]       = combine over (k..., t) of src(r, k..., K // LANES * LANES + t)
    result[r]     = combine(lanes[r], tail[r])                               (inlined)

Every stage carries attrs rows=<number of leading row axes>; the generic schedule computes
each one once per row, at the output's row loop, however many row stages read it
(compiler/templates/generic.py): softmax's row max feeds its exp row buffer (LogSoftmax: its
sum and its output). Other axes ("root" form) reduce with a plain te.sum / prod /
max_reduce / min_reduce, scheduled as their own loop nest.
"""

from __future__ import annotations

import math
from typing import Callable

from .. import te, tir
from .common import compute, read

LANES = 16  # partial accumulators per row: one AVX-512 float32 vector, two AVX2 ones
ROW_PARTIAL, ROW_REDUCE = "row_partial", "row_reduce"
ROW_BUFFER = "row_buffer"  # an injective row stage worth storing (read by several row stages)
REDUCERS = {"sum": te.sum, "prod": te.prod, "max": te.max_reduce, "min": te.min_reduce}
COMBINE = {"sum": lambda a, b: a + b, "prod": lambda a, b: a * b, "max": te.max, "min": te.min}


def is_rows(rank: int, axes: tuple) -> bool:
    """Whether `axes` (sorted) are the trailing axes of a rank-`rank` tensor."""
    return bool(axes) and tuple(axes) == tuple(range(rank - len(axes), rank))


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def reduction(combiner: str, shape: tuple, axes: tuple, src: Callable, name: str) -> te.Tensor:
    """combiner of src(full index) over `axes` of `shape`; the result is indexed by the kept
    axes in order (a te tensor of shape (1,) when none is kept)."""
    axes = tuple(sorted(axes))
    kept = _kept(shape, axes)
    if not is_rows(len(shape), axes):
        return _plain(combiner, shape, axes, src, name)
    rows, ext = kept or (1,), tuple(shape[a] for a in axes)
    lead = len(kept)

    def full(r, ks):
        return src(tuple(r[:lead]) + tuple(ks))

    def stage(suffix, extents, index_of_last, out_shape, tag):
        def body(*i):
            ks = [te.reduce_axis(e, f"{name}.k{d}") for d, e in enumerate(extents)]
            idx = tuple(ks[:-1]) + (index_of_last(i, ks[-1]),)
            return REDUCERS[combiner](full(i, idx), axis=ks)
        return te.compute(out_shape, body, f"{name}.{suffix}", tag=tag, attrs={"rows": len(rows)})

    last = ext[-1]
    if last < LANES:
        return stage("row", ext, lambda i, k: k, rows, ROW_REDUCE)
    main, tail = last // LANES, last % LANES
    partial = stage("partial", ext[:-1] + (main,), lambda i, k: k * LANES + i[-1],
                    rows + (LANES,), ROW_PARTIAL)

    def over_lanes(*i):
        li = te.reduce_axis(LANES, f"{name}.l")
        return REDUCERS[combiner](partial[i + (li,)], axis=li)

    lanes = te.compute(rows, over_lanes, f"{name}.lanes", tag=ROW_REDUCE, attrs={"rows": len(rows)})
    if not tail:
        return lanes
    rest = stage("tail", ext[:-1] + (tail,), lambda i, k: k + main * LANES, rows, ROW_REDUCE)
    return te.compute(rows, lambda *i: COMBINE[combiner](lanes[i], rest[i]), name)


def _plain(combiner, shape, axes, src, name):
    kept_axes = [k for k in range(len(shape)) if k not in axes]

    def body(*i):
        ks = [te.reduce_axis(shape[a], f"{name}.k{a}") for a in axes]
        full = [None] * len(shape)
        for a, k in zip(axes, ks):
            full[a] = k
        for a, v in zip(kept_axes, i if kept_axes else ()):
            full[a] = v
        return REDUCERS[combiner](src(tuple(full)), axis=ks)

    return te.compute(_kept(shape, axes) or (1,), body, name)


def drop(i: tuple, axes: tuple) -> tuple:
    """The kept-axes part of a full index (what a reduction's result is indexed by)."""
    kept = tuple(v for k, v in enumerate(i) if k not in axes)
    return kept or (tir.const(0),)


def rows_attrs(rank: int, axes: tuple, rows: int) -> dict:
    """attrs for a tensor reading row reductions: its first `rows` axes are the rows (0: the
    reductions it reads run once, before its loops)."""
    return {"rows": rows} if is_rows(rank, tuple(sorted(axes))) else {}


def _norm_axes(node, rank):
    return tuple(sorted(a % rank for a in node.attrs["axes"])) if rank else ()


def _reduced_output(node, value_of):
    """out[i] = value_of(kept index) for a Reduce* node (keepdims or not)."""
    x, out = node.inputs[0], node.outputs[0]
    rank = len(x.shape)
    axes = _norm_axes(node, rank)
    keep = node.attrs["keepdims"]

    def body(*i):
        kept = tuple(v for k, v in enumerate(i) if k not in axes) if keep else tuple(i)
        return value_of(kept or (tir.const(0),))

    return compute(out.shape, body, out.name, attrs=rows_attrs(rank, axes, len(out.shape)))


def nan_if_first(first, total):
    """ONNX Runtime's max / min scan starts from the range's first element and only a larger
    (smaller) one replaces it: a NaN shows when it comes first and is skipped anywhere else.
    te's max / min reductions skip every NaN (te.combine); this puts a first one back."""
    if not tir.is_float(first.dtype):
        return total
    return te.select(first.ne(first), first, total)


def first_of(kept: tuple, axes: tuple, rank: int) -> tuple:
    """The full index of the first element (0 on every reduced axis) of the range that the
    kept-axes index `kept` (a reduction's result index) stands for."""
    rest = iter(kept)
    return tuple(tir.const(0) if a in axes else next(rest) for a in range(rank))


def _reduce_op(combiner: str, pre: Callable, post: Callable):
    """Reduce* as combiner over pre(x), finished by post(total, count, dtype); max and min
    take a NaN at the range's first element (nan_if_first)."""
    def lower(node, inputs):
        (x,), xv = inputs, node.inputs[0]
        axes, out = _norm_axes(node, len(xv.shape)), node.outputs[0]
        if not axes:  # the IR's empty axes reduce nothing
            return compute(out.shape, lambda *i: post(pre(read(x, i)), 1, xv.dtype), out.name)
        count = max(math.prod(xv.shape[a] for a in axes), 1)  # an empty mean is 0, as in ORT
        total = reduction(combiner, xv.shape, axes, lambda i: pre(x[i]), out.name + ".r")
        if combiner in ("max", "min") and all(xv.shape[a] for a in axes):
            rank = len(xv.shape)
            return _reduced_output(node, lambda k: nan_if_first(x[first_of(k, axes, rank)],
                                                                post(total[k], count, xv.dtype)))
        return _reduced_output(node, lambda k: post(total[k], count, xv.dtype))
    return lower


def _l2_post(total, count, dtype):
    if tir.is_float(dtype):
        return te.sqrt(total)
    return te.cast(dtype, te.sqrt(te.cast("float64", total)))


REDUCE_OPS = {
    "ReduceSum": _reduce_op("sum", lambda v: v, lambda t, n, d: t),
    "ReduceMean": _reduce_op("sum", lambda v: v, lambda t, n, d: t / tir.Const(n, d)),
    "ReduceProd": _reduce_op("prod", lambda v: v, lambda t, n, d: t),
    "ReduceMax": _reduce_op("max", lambda v: v, lambda t, n, d: t),
    "ReduceMin": _reduce_op("min", lambda v: v, lambda t, n, d: t),
    "ReduceL2": _reduce_op("sum", lambda v: v * v, _l2_post),
}


# -- ArgMax / ArgMin --------------------------------------------------------------------------

def _arg(combiner: str):
    """ONNX Runtime's scan: the first element starts it and another replaces it only when
    larger (smaller; with select_last_index also when equal), so a NaN never wins unless it
    comes first, and then nothing replaces it. As tensors: the NaN-skipping extreme m, the
    first (last) k where x == m, and 0 where x's first element is NaN or none equals m."""
    def lower(node, inputs):
        (x,), xv, out = inputs, node.inputs[0], node.outputs[0]
        rank = len(xv.shape)
        axis = node.attrs["axis"] % rank
        last = node.attrs["select_last_index"]
        n = xv.shape[axis]

        extreme = reduction(combiner, xv.shape, (axis,), lambda j: x[j], out.name + ".m")
        pick, none = ("max", -1) if last else ("min", n)

        def src(i):
            return te.select(x[i].eq(extreme[drop(i, (axis,))]), i[axis], tir.const(none))

        index = reduction(pick, xv.shape, (axis,), src, out.name + ".i")
        keep = node.attrs["keepdims"]

        def body(*i):
            kept = drop(i, (axis,)) if keep else (tuple(i) or (tir.const(0),))
            found = index[kept]
            if not tir.is_float(xv.dtype):
                return found
            first = x[first_of(kept, (axis,), rank)]
            return te.select(first.ne(first) | found.eq(tir.const(none)), tir.const(0), found)

        return compute(out.shape, body, out.name, attrs=rows_attrs(rank, (axis,), len(out.shape)))
    return lower


# -- Softmax / LogSoftmax ---------------------------------------------------------------------

def _softmax(log: bool):
    """y = exp(x - max) / sum(exp(x - max)) (log: x - max - log(sum)); max and sum per row,
    exp(x - max) a row buffer (tag ROW_BUFFER) that the sum and the output both read."""
    def lower(node, inputs):
        (x,), xv, out = inputs, node.inputs[0], node.outputs[0]
        rank = len(xv.shape)
        axis = node.attrs["axis"] % rank
        shape, ax, attrs = xv.shape, (axis,), rows_attrs(rank, (axis,), axis)
        row_max = reduction("max", shape, ax, lambda j: x[j], out.name + ".max")

        def shifted(i):
            return x[i] - row_max[drop(i, ax)]

        if log:
            total = reduction("sum", shape, ax, lambda j: te.exp(shifted(j)), out.name + ".sum")
            return compute(out.shape, lambda *i: shifted(i) - te.log(total[drop(i, ax)]),
                           out.name, attrs=attrs)
        e = compute(shape, lambda *i: te.exp(shifted(i)), out.name + ".exp", tag=ROW_BUFFER,
                    attrs=attrs)
        total = reduction("sum", shape, ax, lambda j: e[j], out.name + ".sum")
        one = tir.Const(1, xv.dtype)  # a multiply per element, the division hoisted per row
        return compute(out.shape, lambda *i: e[i] * (one / total[drop(i, ax)]), out.name,
                       attrs=attrs)
    return lower


# -- CumSum -----------------------------------------------------------------------------------

def cumsum(node, inputs):
    """y[.., i, ..] = sum over j of x[.., j, ..] where j <= i (j < i exclusive; >= / > reverse):
    a quadratic reduction, fine for the short scans models use."""
    (x,), xv, out = inputs, node.inputs[0], node.outputs[0]
    axis = node.attrs["axis"] % len(xv.shape)
    n = xv.shape[axis]
    excl, rev = node.attrs["exclusive"], node.attrs["reverse"]

    def body(*i):
        j = te.reduce_axis(n, "j")
        take = (j >= i[axis] if not excl else j > i[axis]) if rev else \
            (j <= i[axis] if not excl else j < i[axis])
        val = x[i[:axis] + (j,) + i[axis + 1:]]
        return te.sum(te.select(take, val, tir.Const(0, out.dtype)), axis=j)

    return compute(out.shape, body, out.name)


COMPUTE = {**REDUCE_OPS, "ArgMax": _arg("max"),
           "ArgMin": _arg("min"), "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
           "CumSum": cumsum}
