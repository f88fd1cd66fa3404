"""Resize as a tensor expression over compile-time tap tables.

The taps (source indices and weights per output position, per axis) come from the reference's
own coordinate code (compiler/ops/resize.py `_axis_taps`, float32 as ONNX Runtime), computed
once at compile time into constant tables, so nearest-neighbour ties and edge clamping agree
exactly with the oracle. The kernel sums the tap products of the resized axes:

    y[i...] = sum over taps t of x[idx_a[i_a, t_a] ...] * prod_a w_a[i_a, t_a]

Axes with scale 1 are copied. Integer inputs of linear mode compute in float and truncate.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import te, tir
from ..ops.resize import _axis_taps
from .common import compute, table


def resize(node, inputs):
    (x,), xv, out, a = inputs, node.inputs[0], node.outputs[0], node.attrs
    rank, roi = len(xv.shape), a["roi"]
    wide = str(np.promote_types(xv.dtype, np.float32)) if a["mode"] != "nearest" else xv.dtype
    axes = {}
    for d, (n, m, s) in enumerate(zip(xv.shape, a["sizes"], a["scales"])):
        if s == 1.0:
            continue
        idx, w, inside = _axis_taps(n, m, s, roi[d], roi[rank + d], dict(a))
        axes[d] = (table(idx.astype(np.int64), f"{out.name}.idx{d}"),
                   None if w is None else table(w.astype(wide), f"{out.name}.w{d}"),
                   table(inside, f"{out.name}.in{d}"), idx.shape[1])

    def body(*i):
        terms = []
        for taps in itertools.product(*(range(axes[d][3]) for d in axes)):
            tap = dict(zip(axes, taps))
            src = tuple(axes[d][0][i[d], tir.const(tap[d])] if d in axes else i[d]
                        for d in range(rank))
            val = x[src] if wide == xv.dtype else te.cast(wide, x[src])
            for d, t in tap.items():
                if axes[d][1] is not None:
                    val = val * axes[d][1][i[d], tir.const(t)]
            terms.append(val)
        y = terms[0]
        for t in terms[1:]:
            y = y + t
        y = te.cast(out.dtype, y)
        if a["coordinate_transformation_mode"] == "tf_crop_and_resize" and axes:
            inside = te.all(*(axes[d][2][i[d]] for d in axes))
            y = te.select(inside, y, tir.Const(a["extrapolation_value"], out.dtype))
        return y

    return compute(out.shape, body, out.name)


COMPUTE = {"Resize": resize}
