"""Pools as tensor expressions. A window pool reduces over kernel taps with padding (and
ceil_mode's overhang) read as the reduction's identity:

    y[n, c, o...] = combine over j... of (0 <= p < L ? x[n, c, p...] : identity),
                    p = o * stride + j * dilation - pad_begin

AveragePool multiplies by a compile-time table of 1 / (taps counted) per output position.
Global pools reduce the trailing spatial axes with topi.reduce's row reduction.
"""

from __future__ import annotations

import math

import numpy as np

from .. import te, tir
from .common import compute, lowest, table
from .reduce import drop, nan_if_first, reduction, rows_attrs


def _window(node, x, combiner, fill, value_fn, name):
    """combine over kernel taps of value_fn(x at the tap), from `fill`, also read outside the
    input (MaxPool's lowest finite value: ORT's pools start there, so -inf taps give it)."""
    a = node.attrs
    sizes = node.inputs[0].shape[2:]
    nd = len(sizes)
    out = node.outputs[0]

    def body(n, c, *o):
        js = [te.reduce_axis(k, f"j{d}") for d, k in enumerate(a["kernel_shape"])]
        pos = [o[d] * a["strides"][d] + js[d] * a["dilations"][d] - a["pads"][d] for d in range(nd)]
        conds = [c_ for d in range(nd) for c_ in (pos[d] >= 0, pos[d] < sizes[d])]
        val = value_fn(x[(n, c) + tuple(pos)])
        return _REDUCE[combiner](te.if_then_else(te.all(*conds), val, fill), axis=js, init=fill)

    return te.compute(out.shape, body, name)


_REDUCE = {"sum": te.sum, "max": te.max_reduce}


def max_pool(node, inputs):
    """The NaN-skipping window max, then a NaN at the window's first tap on the input wins
    (ONNX Runtime's scan order, as ReduceMax: topi.reduce.nan_if_first)."""
    x, out = inputs[0], node.outputs[0]
    fill = tir.Const(lowest(out.dtype), out.dtype)
    if not tir.is_float(out.dtype):
        return _window(node, x, "max", fill, lambda v: v, out.name)
    pooled = _window(node, x, "max", fill, lambda v: v, out.name + ".max")
    return te.compute(out.shape, lambda n, c, *o: nan_if_first(
        first_tap_value(node, x, (n, c), o, fill), pooled[(n, c) + o]), out.name)


def first_tap(node, o) -> tuple:
    """(position per spatial axis, whether it is on the input) of the window's first tap in
    raster order on the input: per axis j0 = max(0, ceil((pad - o * stride) / dilation)),
    the first tap at or past position 0."""
    a = node.attrs
    sizes = node.inputs[0].shape[2:]
    pos, inside = [], []
    for d, (size, k, s, dil, pad) in enumerate(zip(sizes, a["kernel_shape"], a["strides"],
                                                    a["dilations"], a["pads"])):
        j0 = tir.max_((pad - o[d] * s + dil - 1) // dil, 0)
        pos.append(o[d] * s + j0 * dil - pad)
        inside += [j0 < k, pos[-1] < size]
    return pos, te.all(*inside)


def first_tap_value(node, x, nc, o, fill):
    """x at the window's first tap on the input, `fill` when the window has none."""
    pos, some = first_tap(node, o)
    return te.if_then_else(some, x[nc + tuple(pos)], fill)


def _counts(node) -> np.ndarray:
    """1 / taps counted per output position (0 for none), separable over the axes."""
    a = node.attrs
    sizes, out = node.inputs[0].shape[2:], node.outputs[0].shape[2:]
    nd = len(sizes)
    per_axis = []
    for d in range(nd):
        o = np.arange(out[d])[:, None]
        pos = o * a["strides"][d] + np.arange(a["kernel_shape"][d])[None, :] * a["dilations"][d] \
            - a["pads"][d]
        hi = sizes[d] + (a["pads"][nd + d] if a["count_include_pad"] else 0)
        lo = -a["pads"][d] if a["count_include_pad"] else 0
        per_axis.append(((pos >= lo) & (pos < hi)).sum(1))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(node.outputs[0].dtype)


def average_pool(node, inputs):
    out = node.outputs[0]
    sums = _window(node, inputs[0], "sum", tir.Const(0, out.dtype), lambda v: v, out.name + ".sum")
    inv = table(_counts(node), out.name + ".inv")
    return te.compute(out.shape, lambda n, c, *o: sums[(n, c) + o] * inv[o], out.name)


def _lp(p, dt):
    def power(v):
        v = te.abs(v)
        return v if p == 1 else v * v if p == 2 else te.pow(v, tir.Const(p, dt))
    return power


def _root(p, dt):
    return lambda s: s if p == 1 else te.sqrt(s) if p == 2 else te.pow(s, tir.Const(1.0 / p, dt))


def lp_pool(node, inputs):
    out, p = node.outputs[0], node.attrs["p"]
    sums = _window(node, inputs[0], "sum", tir.Const(0, out.dtype), _lp(p, out.dtype),
                   out.name + ".sum")
    root = _root(p, out.dtype)
    return te.compute(out.shape, lambda *i: root(sums[i]), out.name)


def _global(combiner, pre, post):
    """Reduce the spatial axes (the trailing ones) of (N, C, *spatial) per (n, c); a max
    starts from the lowest finite value, as MaxPool, and takes a NaN at the first spatial
    element (nan_if_first)."""
    def lower(node, inputs):
        (x,), xv, out = inputs, node.inputs[0], node.outputs[0]
        axes = tuple(range(2, len(xv.shape)))
        count = math.prod(xv.shape[2:])
        dt = out.dtype
        total = reduction(combiner, xv.shape, axes, lambda i: pre(x[i], dt), out.name + ".r")

        def body(*i):
            value = post(total[drop(i, axes)], count, dt)
            if combiner != "max":
                return value
            value = te.max(value, tir.Const(lowest(dt), dt))  # from the lowest, as MaxPool
            return nan_if_first(x[i[:2] + (tir.const(0),) * len(axes)], value)

        return compute(out.shape, body, out.name,
                       attrs=rows_attrs(len(xv.shape), axes, len(out.shape)))
    return lower


def _global_lp(node, inputs):
    p = node.attrs["p"]
    fn = _global("sum", lambda v, dt: _lp(p, dt)(v), lambda s, n, dt: _root(p, dt)(s))
    return fn(node, inputs)


COMPUTE = {
    "MaxPool": max_pool, "AveragePool": average_pool, "LpPool": lp_pool,
    "GlobalAveragePool": _global("sum", lambda v, dt: v, lambda s, n, dt: s / tir.Const(n, dt)),
    "GlobalMaxPool": _global("max", lambda v, dt: v, lambda s, n, dt: s),
    "GlobalLpPool": _global_lp,
}
