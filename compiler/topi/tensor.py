"""Data-movement ops as tensor expressions: each output element reads one input element at an
index computed from its own (plus constant fills for Pad, selects for Concat and Trilu).

    Transpose  out[i] = x[i[inv(perm)]]          Slice  out[i] = x[start + i * step]
    Reshape    out[i] = x[unravel(ravel(i))]     Tile   out[i] = x[i % shape]
    Concat     out[.., i, ..] = x_k[.., i - offset_k, ..] for the k whose range holds i

Gather's indices are data: each is wrapped once if negative, then CLAMPED into [0, n - 1], so
a kernel never reads out of bounds. An index outside [-n, n - 1] is an error for ONNX
Runtime (and the reference raises InputError); here it reads the nearest edge row instead.
"""

from __future__ import annotations

import math

from .. import te, tir
from .common import bread, compute, read


def _idx(v) -> tir.Expr:
    return tir.as_expr(v)


def _groups(a: tuple, b: tuple):
    """Runs of dims (indices into a, indices into b) whose sizes have equal products."""
    i = j = 0
    while i < len(a) or j < len(b):
        gi, gj = [i] if i < len(a) else [], [j] if j < len(b) else []
        pa = a[i] if gi else 1
        pb = b[j] if gj else 1
        while pa != pb:
            if pa < pb:
                i += 1
                gi.append(i)
                pa *= a[i]
            else:
                j += 1
                gj.append(j)
                pb *= b[j]
        i, j = i + 1, j + 1
        yield gi, gj


def _reshape_index(in_shape: tuple, out_shape: tuple, out_idx: tuple) -> tuple:
    """Input indices for output indices of a reshape. Dims are grouped into runs whose
    products agree in both shapes, so unchanged dims map to themselves and a split dim
    (256 -> 4, 64) reads the linear `c * 64 + d`; only merged dims need div/mod, and
    size-1 dims read index 0."""
    result = [tir.const(0)] * len(in_shape)
    for ins, outs in _groups(in_shape, out_shape):
        flat = None
        for k in outs:
            if out_shape[k] != 1:
                flat = out_idx[k] if flat is None else flat * out_shape[k] + out_idx[k]
        real = [k for k in ins if in_shape[k] != 1]
        for n, k in enumerate(real):
            inner = math.prod(in_shape[m] for m in real[n + 1:])
            part = flat // inner if inner > 1 else flat
            result[k] = part % in_shape[k] if n > 0 else part
    return tuple(result)


def reshape(node, inputs):
    (x,), out = inputs, node.outputs[0]
    src = node.inputs[0].shape
    return compute(out.shape, lambda *i: read(x, _reshape_index(src, out.shape, i)), out.name)


def transpose(node, inputs):
    (x,), out = inputs, node.outputs[0]
    perm = node.attrs["perm"]
    inv = [perm.index(d) for d in range(len(perm))]
    return compute(out.shape, lambda *i: x[tuple(i[inv[d]] for d in range(len(perm)))], out.name)


def concat(node, inputs):
    out = node.outputs[0]
    axis = node.attrs["axis"] % len(out.shape)
    offsets, acc = [], 0
    for v in node.inputs:
        offsets.append(acc)
        acc += v.shape[axis]

    def body(*i):
        expr = None
        for t, off, v in zip(inputs, offsets, node.inputs):
            if v.size == 0:  # an empty input holds no part of the output
                continue
            idx = i[:axis] + (i[axis] - off,) + i[axis + 1:]
            val = t[idx]
            expr = val if expr is None else te.if_then_else(i[axis] >= off, val, expr)
        return expr

    return compute(out.shape, body, out.name)


def split(node, inputs):
    (x,) = inputs
    axis, outs, acc = node.attrs["axis"] % len(node.inputs[0].shape), [], 0
    for v in node.outputs:
        off = acc
        outs.append(compute(v.shape, lambda *i, off=off: x[i[:axis] + (i[axis] + off,) + i[axis + 1:]],
                            v.name))
        acc += v.shape[axis]
    return tuple(outs)


def slice_(node, inputs):
    (x,), out, a = inputs, node.outputs[0], node.attrs
    start = {ax: (s, st) for s, ax, st in zip(a["starts"], a["axes"], a["steps"])}

    def body(*i):
        return x[tuple(i[d] * start[d][1] + start[d][0] if d in start else i[d]
                       for d in range(len(i)))]

    return compute(out.shape, body, out.name)


def gather(node, inputs):
    """out[pre, j..., post] = data[pre, clamp(wrap(indices[j...])), post]."""
    (data, indices), out = inputs, node.outputs[0]
    axis, n = node.attrs["axis"], node.inputs[0].shape[node.attrs["axis"]]
    nidx = len(node.inputs[1].shape)

    def body(*i):
        k = te.cast(tir.INDEX, read(indices, i[axis:axis + nidx]))
        k = te.select(k < 0, k + n, k)
        k = te.min(te.max(k, _idx(0)), _idx(n - 1))
        return data[i[:axis] + (k,) + i[axis + nidx:]]

    return compute(out.shape, body, out.name)


def expand(node, inputs):
    (x,), out = inputs, node.outputs[0]
    return compute(out.shape, lambda *i: bread(x, i), out.name)


def tile(node, inputs):
    (x,), out = inputs, node.outputs[0]
    shape = node.inputs[0].shape
    return compute(out.shape, lambda *i: x[tuple(v % d if d > 1 else _idx(0)
                                                 for v, d in zip(i, shape))], out.name)


def _pad_source(mode: str, j, n: int, lo: int):
    """Index into the input for position j of the cropped axis [lo, lo + n) extended by pads."""
    if mode == "edge":
        return te.min(te.max(j, _idx(0)), _idx(n - 1)) + lo
    if mode == "reflect":
        j = te.select(j < 0, -j, j)
        return te.select(j >= n, _idx(2 * (n - 1)) - j, j) + lo
    if mode == "wrap":
        return j % n + lo
    return j + lo


def pad(node, inputs):
    """ONNX Pad: negative pads crop first, then modes extend the cropped tensor."""
    (x,), out, a = inputs, node.outputs[0], node.attrs
    shape, rank = node.inputs[0].shape, len(node.inputs[0].shape)
    begin, end = a["pads"][:rank], a["pads"][rank:]
    lo = [max(-b, 0) for b in begin]
    kept = [d + min(b, 0) + min(e, 0) for d, b, e in zip(shape, begin, end)]
    fill = tir.Const(a["value"], out.dtype)
    if 0 in kept:  # nothing of the input is left: only the fill (constant mode)
        return compute(out.shape, lambda *i: fill, out.name)

    def body(*i):
        js = [v - max(b, 0) for v, b in zip(i, begin)]
        src = tuple(_pad_source(a["mode"], j, n, l) for j, n, l in zip(js, kept, lo))
        val = read(x, src)
        if a["mode"] != "constant":
            return val
        inside = [(j >= 0) & (j < n) for j, b, e, n in zip(js, begin, end, kept) if b > 0 or e > 0]
        return te.if_then_else(te.all(*inside), val, fill) if inside else val

    return compute(out.shape, body, out.name)


def depth_to_space(node, inputs):
    (x,), out, b = inputs, node.outputs[0], node.attrs["blocksize"]
    c = out.shape[1]

    def body(n, ch, h, w):
        bh, bw = h % b, w % b
        src = bh * (b * c) + bw * c + ch if node.attrs["mode"] == "DCR" else ch * (b * b) + bh * b + bw
        return x[n, src, h // b, w // b]

    return compute(out.shape, body, out.name)


def space_to_depth(node, inputs):
    (x,), out, b = inputs, node.outputs[0], node.attrs["blocksize"]
    c = node.inputs[0].shape[1]

    def body(n, ch, h, w):
        blk, src = ch // c, ch % c
        return x[n, src, h * b + blk // b, w * b + blk % b]

    return compute(out.shape, body, out.name)


def trilu(node, inputs):
    (x,), out, k = inputs, node.outputs[0], node.attrs["k"]

    def body(*i):
        d = i[-1] - i[-2]
        keep = d >= k if node.attrs["upper"] else d <= k
        return te.select(keep, x[i], tir.Const(0, out.dtype))

    return compute(out.shape, body, out.name)


COMPUTE = {"Reshape": reshape, "Transpose": transpose, "Concat": concat, "Split": split,
           "Slice": slice_, "Gather": gather, "Expand": expand, "Tile": tile, "Pad": pad,
           "DepthToSpace": depth_to_space, "SpaceToDepth": space_to_depth, "Trilu": trilu}
