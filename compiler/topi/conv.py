"""Convolutions as tensor expressions: Conv and ConvTranspose (any spatial rank, groups).

Both are one direct convolution over a zero-padded input (TVM's conv2d_transpose does the
same): ConvTranspose first spreads its input `upsample` = strides apart (zeros between), pads
it by (k-1)*d - pads, and runs a stride-1 convolution with the kernel flipped and its in/out
channel axes swapped per group:

    inp[n, c, p]  = x[n, c, (p - pad_begin) / upsample]   where that is an in-range integer
                    0                                      elsewhere
    out[n, oc, o] = sum_{ic < Cg, k} inp[n, g*Cg + ic, o*stride + k*dilation] * w'[oc, ic, k]
                    (+ B[oc]),   g = oc // Mg

`geometry(node)` states that direct convolution for a node; the generic computes here and the
schedule templates (compiler/templates/conv2d*.py) build on it, the templates with their own
blocked layouts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import te
from .common import unsupported


@dataclass(frozen=True)
class ConvGeom:
    """The direct convolution a Conv/ConvTranspose node computes (see the module docstring)."""

    batch: int
    channels: int
    size: tuple           # input spatial size, before upsampling and padding
    out_channels: int
    kernel: tuple
    strides: tuple
    dilations: tuple
    pad_begin: tuple      # may be negative for ConvTranspose (input cropped)
    group: int
    upsample: tuple       # ConvTranspose strides; 1 for Conv
    out_size: tuple
    transposed: bool
    dtype: str

    @property
    def cg(self) -> int:
        """Input channels per group."""
        return self.channels // self.group

    @property
    def mg(self) -> int:
        """Output channels per group."""
        return self.out_channels // self.group

    @property
    def depthwise(self) -> bool:
        return self.cg == 1 and self.group > 1

    def span(self, axis: int, out: int | None = None) -> int:
        """Padded input length along spatial `axis` that `out` outputs (default all) read."""
        out = self.out_size[axis] if out is None else out
        return (out - 1) * self.strides[axis] + (self.kernel[axis] - 1) * self.dilations[axis] + 1

    def flops(self) -> int:
        return 2 * self.batch * self.out_channels * math.prod(self.out_size) * self.cg \
            * math.prod(self.kernel)


def geometry(node) -> ConvGeom:
    x, w = node.inputs[0], node.inputs[1]
    n, c, *size = x.shape
    kernel, nd, a = tuple(w.shape[2:]), len(size), node.attrs
    y = node.outputs[0].shape
    if node.op == "Conv":
        return ConvGeom(n, c, tuple(size), w.shape[0], kernel, tuple(a["strides"]),
                        tuple(a["dilations"]), tuple(a["pads"][:nd]), a["group"], (1,) * nd,
                        tuple(y[2:]), False, x.dtype)
    if node.op == "ConvTranspose":
        d = tuple(a["dilations"])
        begin = tuple((k - 1) * di - p for k, di, p in zip(kernel, d, a["pads"][:nd]))
        return ConvGeom(n, c, tuple(size), y[1], kernel, (1,) * nd, d, begin, a["group"],
                        tuple(a["strides"]), tuple(y[2:]), True, x.dtype)
    raise unsupported(node, "not a convolution")


def padded_value(x: te.Tensor, geom: ConvGeom, n, c, pos: tuple):
    """inp[n, c, pos]: x upsampled and zero-padded (an if_then_else: padding reads nothing)."""
    if 0 in geom.size:  # an empty image: every position is padding
        return te.const(0, x.dtype)
    conds, src = [], []
    for p, b, u, size in zip(pos, geom.pad_begin, geom.upsample, geom.size):
        i = p - b
        conds += [i >= 0, i < (size - 1) * u + 1]
        if u > 1:
            conds.append((i % u).eq(0))
            i = i // u
        src.append(i)
    return te.if_then_else(te.all(*conds), x[(n, c) + tuple(src)], te.const(0, x.dtype))


def needs_input_stage(geom: ConvGeom, size: tuple) -> bool:
    """Whether reading `size` positions of inp needs padding or upsampling (else x itself)."""
    return any(u > 1 or b != 0 or s > L
               for u, b, s, L in zip(geom.upsample, geom.pad_begin, size, geom.size))


def input_stage(x: te.Tensor, geom: ConvGeom, size: tuple | None = None, name: str = "conv_input"):
    """inp over `size` spatial positions (default: what the outputs read) as its own stage
    (attrs["upsample"]: the geometry's upsampling), or x itself when no padding or upsampling
    is needed."""
    size = size or tuple(geom.span(d) for d in range(len(geom.size)))
    if not needs_input_stage(geom, size):
        return x
    return te.compute((geom.batch, geom.channels) + size,
                      lambda n, c, *p: padded_value(x, geom, n, c, p), name=name,
                      tag="conv_input", attrs={"upsample": geom.upsample})


def weight_reader(w: te.Tensor, geom: ConvGeom):
    """(oc, ic, taps) -> w'[oc, ic, taps] read from the node's own weight layout."""
    if not geom.transposed:
        return lambda oc, ic, k: w[(oc, ic) + tuple(k)]

    def read(oc, ic, k):
        flipped = tuple(e - 1 - t for e, t in zip(geom.kernel, k))
        return w[(oc // geom.mg * geom.cg + ic, oc % geom.mg) + flipped]
    return read


def direct_weight(node, w: np.ndarray) -> np.ndarray:
    """The node's constant weight as the direct convolution's [OC, Cg, *K] (numpy)."""
    geom = geometry(node)
    if not geom.transposed:
        return w
    nd = len(geom.kernel)
    g = w.reshape((geom.group, geom.cg, geom.mg) + geom.kernel).swapaxes(1, 2)
    g = g.reshape((geom.out_channels, geom.cg) + geom.kernel)
    return np.ascontiguousarray(np.flip(g, axis=tuple(range(2, 2 + nd))))


def with_bias(t: te.Tensor, b: te.Tensor | None, name: str = "conv_bias") -> te.Tensor:
    if b is None:
        return t
    return te.compute(t.shape, lambda n, c, *o: t[(n, c) + o] + b[c], name=name,
                      tag="conv_bias")


def direct_conv(inp: te.Tensor, w_at, geom: ConvGeom, name: str = "conv") -> te.Tensor:
    """out[n, oc, o] = sum_{ic, k} inp[n, g*Cg + ic, o*s + k*d] * w_at(oc, ic, k)."""
    rc = te.reduce_axis(geom.cg, "rc")
    rk = tuple(te.reduce_axis(k, f"rk{d}") for d, k in enumerate(geom.kernel))

    def body(n, oc, *o):
        c = rc if geom.group == 1 else oc // geom.mg * geom.cg + rc
        pos = tuple(oi * s + r * d for oi, s, r, d in zip(o, geom.strides, rk, geom.dilations))
        return te.sum(inp[(n, c) + pos] * w_at(oc, rc, rk), axis=[rc, *rk])

    return te.compute((geom.batch, geom.out_channels) + geom.out_size, body, name=name,
                      tag="conv")


def _direct(node, inputs) -> te.Tensor:
    x, w, *b = inputs
    geom = geometry(node)
    out = direct_conv(input_stage(x, geom), weight_reader(w, geom), geom)
    return with_bias(out, b[0] if b else None)


def conv(node, inputs) -> te.Tensor:
    """Conv(X, W[, B]) over NCHW (any spatial rank), generic loop nest."""
    return _direct(node, inputs)


def conv_transpose(node, inputs) -> te.Tensor:
    """ConvTranspose(X, W[, B]) as a direct convolution over the upsampled, padded input."""
    return _direct(node, inputs)
