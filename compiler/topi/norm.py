"""Normalizations as tensor expressions: LayerNormalization, InstanceNormalization (row
statistics from topi.reduce), LRN (a window sum over channels) and inference
BatchNormalization (per-channel scale and shift).

Statistics take two passes: mean = x0 + sum(x - x0) / n (x0 the row's first element, so a
constant row's mean is exact), then var = sum((x - mean)^2) / n. The
one-pass form sum(x * x) / n - mean^2 cancels catastrophically in float32 when the mean is
large against the spread (rows near 100 with spread 0.01 came out 7x off; ONNX Runtime
accumulates in double). Each pass is vectorized along the row.
"""

from __future__ import annotations

import math

from .. import te, tir
from .common import bread, compute
from .reduce import drop, reduction, rows_attrs


def _stats(x, shape, axes, eps, name):
    """fresh (mean(i), rstd(i)) readers of new row reductions for full indices i."""
    n = math.prod(shape[a] for a in axes)
    dt = x.dtype

    def first(j):  # the row's first element: the shift that makes a constant row's mean exact
        return x[tuple(tir.const(0) if d in axes else j[d] for d in range(len(shape)))]

    s1 = reduction("sum", shape, axes, lambda j: x[j] - first(j), name + ".sum")

    def mean(i):
        return first(i) + s1[drop(i, axes)] / tir.Const(n, dt)

    def deviation2(j):
        d = x[j] - mean(j)
        return d * d

    s2 = reduction("sum", shape, axes, deviation2, name + ".sumsq")

    def rstd(i):
        var = s2[drop(i, axes)] / tir.Const(n, dt)
        return tir.Const(1, dt) / te.sqrt(var + tir.Const(eps, dt))

    return mean, rstd


def layer_norm(node, inputs):
    """y = (x - mean) * rstd * scale + B over axes [axis, rank); optional mean / rstd outputs."""
    x, scale, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    shape = node.inputs[0].shape
    rank = len(shape)
    axis = node.attrs["axis"] % rank
    axes, eps = tuple(range(axis, rank)), node.attrs["epsilon"]
    out = node.outputs[0]
    mean, rstd = _stats(x, shape, axes, eps, out.name)

    def body(*i):
        y = (x[i] - mean(i)) * rstd(i) * bread(scale, i[axis:])
        return y + bread(bias, i[axis:]) if bias is not None else y

    attrs = rows_attrs(rank, axes, axis)
    y = compute(out.shape, body, out.name, attrs=attrs)
    if len(node.outputs) == 1:
        return y
    stats = []
    for v, pick in zip(node.outputs[1:], ("mean", "rstd")):
        m, r = _stats(x, shape, axes, eps, v.name)
        fn = m if pick == "mean" else r
        stats.append(compute(v.shape, lambda *i, fn=fn: te.cast(v.dtype, fn(i[:axis] + (tir.const(0),) * (rank - axis))),
                             v.name, attrs=rows_attrs(rank, axes, rank)))
    return (y, *stats)


def instance_norm(node, inputs):
    """y = (x - mean) * rstd * scale[c] + B[c], statistics per (n, c)."""
    x, scale, bias = inputs
    shape, out = node.inputs[0].shape, node.outputs[0]
    axes = tuple(range(2, len(shape)))
    mean, rstd = _stats(x, shape, axes, node.attrs["epsilon"], out.name)
    return compute(out.shape, lambda *i: (x[i] - mean(i)) * rstd(i) * scale[i[1]] + bias[i[1]],
                   out.name, attrs=rows_attrs(len(shape), axes, 2))


def lrn(node, inputs):
    """y[c] = x[c] / (bias + alpha / size * sum of x[c']^2 over the channel window) ** beta."""
    (x,), out, a = inputs, node.outputs[0], node.attrs
    channels, size = node.inputs[0].shape[1], a["size"]
    before = (size - 1) // 2
    dt = out.dtype

    def window(n, c, *sp):
        j = te.reduce_axis(size, "j")
        src = c + j - before
        inside = (src >= 0) & (src < channels)
        v = te.if_then_else(inside, x[(n, src) + sp], tir.Const(0, dt))
        return te.sum(v * v, axis=j)

    sums = te.compute(out.shape, window, out.name + ".sum")
    scale = tir.Const(a["alpha"] / size, dt)
    return compute(out.shape, lambda *i: x[i] / te.pow(tir.Const(a["bias"], dt) + scale * sums[i],
                                                       tir.Const(a["beta"], dt)), out.name)


def batch_norm(node, inputs):
    """y = x * inv[c] + (B[c] - mean[c] * inv[c]), inv = scale / sqrt(var + epsilon)."""
    x, scale, b, mean, var = inputs
    out, dt = node.outputs[0], node.outputs[0].dtype
    eps = tir.Const(node.attrs["epsilon"], dt)

    def body(*i):
        c = i[1]
        inv = scale[c] / te.sqrt(var[c] + eps)
        return x[i] * inv + (b[c] - mean[c] * inv)

    return compute(out.shape, body, out.name)


COMPUTE = {"LayerNormalization": layer_norm, "InstanceNormalization": instance_norm,
           "LRN": lrn, "BatchNormalization": batch_norm}
