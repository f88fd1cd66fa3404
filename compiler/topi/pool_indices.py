"""MaxPoolWithIndices as tensor expressions: ONNX Runtime's scan (ops/pool_indices.py) written
as two window reductions over the taps on the input, each tap known by its row-major
position p in the (n, c) plane (raster order of the taps is increasing p), and the window's
first tap f in closed form (topi.pool.first_tap):

    top[o]   = max over taps of x[p], NaN read as -inf         (the maximum the scan reaches)
    pick[o]  = min over taps of (x[p] == top[o] ? p : P)       (where it first reaches it)
    p*       = f if x[f] is NaN (the scan never leaves it) else pick;   Y = x[p*]
    Indices  = (n * C + c) * P + sum over axes of coordinate(p*) * step (storage_order's steps)

P = prod(spatial); a window with no tap on the input has Y the lowest value and coordinates
-1, as the reference.
"""

from __future__ import annotations

import math

from .. import te, tir
from ..ops.pool_indices import strides
from .common import lowest
from .pool import first_tap, first_tap_value


def max_pool_with_indices(node, inputs):
    (x,), xv, (y_out, i_out) = inputs, node.inputs[0], node.outputs
    a, spatial = node.attrs, xv.shape[2:]
    size, channels, dt = math.prod(spatial), xv.shape[1], y_out.dtype
    row_major = strides(spatial, 0)
    is_float = tir.is_float(dt)
    floor = tir.Const(-math.inf if is_float else lowest(dt), dt)

    def over_taps(reducer, value, fill, name):
        """reducer over the window's taps of value(x at the tap, p, output index), `fill`
        for taps off the input."""
        def body(n, c, *o):
            js = [te.reduce_axis(k, f"j{d}") for d, k in enumerate(a["kernel_shape"])]
            pos = [o[d] * a["strides"][d] + js[d] * a["dilations"][d] - a["pads"][d]
                   for d in range(len(spatial))]
            inside = te.all(*(c_ for d, q in enumerate(pos) for c_ in (q >= 0, q < spatial[d])))
            p = sum((q * m for q, m in zip(pos, row_major)), tir.const(0))
            tap = te.if_then_else(inside, value(x[(n, c) + tuple(pos)], p, (n, c) + o), fill)
            return reducer(tap, axis=js, init=fill)
        return te.compute(y_out.shape, body, f"{y_out.name}.{name}")

    top = over_taps(te.max_reduce, lambda v, p, i: te.select(v.eq(v), v, floor) if is_float
                    else v, floor, "top")
    pick = over_taps(te.min_reduce, lambda v, p, i: te.select(v.eq(top[i]), p, tir.const(size)),
                     tir.const(size), "pick")

    def scan(i):
        """(whether the window has a tap on the input, the coordinates of the scan's pick)"""
        first, some = first_tap(node, i[2:])
        p = pick[i]
        picked = [(p // m) % extent for m, extent in zip(row_major, spatial)]
        if not is_float:
            return some, picked
        v = first_tap_value(node, x, i[:2], i[2:], tir.Const(0, dt))
        return some, [te.select(v.ne(v), f, q) for f, q in zip(first, picked)]

    def value(n, c, *o):
        some, coords = scan((n, c) + o)
        return te.if_then_else(some, x[(n, c) + tuple(coords)], tir.Const(lowest(dt), dt))

    def index(n, c, *o):
        some, coords = scan((n, c) + o)
        steps = strides(spatial, a["storage_order"])
        position = sum((te.select(some, q, tir.const(-1)) * m for q, m in zip(coords, steps)),
                       tir.const(0))
        return (n * channels + c) * size + position

    return (te.compute(y_out.shape, value, y_out.name),
            te.compute(i_out.shape, index, i_out.name))


COMPUTE = {"MaxPoolWithIndices": max_pool_with_indices}
