"""Depthwise conv2d template (one input channel per group: MobileNet's 3x3, stride 1 or 2),
vectorized along the output row, NCHW in and out. The conv reads the input directly: a
stride-s row read is a constant-stride vector load (s contiguous loads + one shuffle in
the backend) and the zero padding is inlined as load masks, so no pass re-lays out the
input (only ConvTranspose's upsampled input keeps a stage of its own):

    for (n, c, oho) in parallel(N * OC * ceil(OH/oh_bn)):
      for owo in serial|unrolled(0, ceil(OW/ow_bn)):           # unrolled: constant masks
        acc = allocate(float32, [oh_bn, ow_bn], local)         # oh_bn * ow_bn/lanes vectors
        for kh in unrolled(0, KH): for kw in unrolled(0, KW):
          for ohi in unrolled(0, oh_bn): for owi in vectorized(0, ow_bn):
            acc[ohi, owi] += X[n, c/M, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]   # masked
                             * W[c, 0, kh, kw]
        for ohi in unrolled(0, oh_bn): for owi in vectorized(0, ow_bn):   # guarded at edges
          Y[n, c, oh, ow] = epilogue(acc[ohi, owi] + B[c])

The blocked result covers whole tiles (reads past the input are masked off), so only the
store tests the edges.
"""

from __future__ import annotations

from .. import te
from ..te import TEError
from ..topi.conv import geometry, input_stage, weight_reader, with_bias
from .conv2d import lanes, schedule_input, start_conv_schedule
from .registry import Template, register_template

BLOCKED = "conv2d_depthwise"
UNROLL_OW_TILES = 4  # column tiles a row unrolls by default (code size vs. constant masks)


def applies(node) -> bool:
    return len(node.inputs[0].shape) == 4 and geometry(node).depthwise


def space(node, target=None) -> dict:
    """ow_bn: row tile (half a vector to 4 vectors); oh_bn: output rows per register tile;
    unroll_ow: unroll the column tiles (their padding masks become constants)."""
    L = lanes(target)
    return {"ow_bn": [L // 2, L, 2 * L, 3 * L, 4 * L], "oh_bn": [1, 2, 3, 4, 5, 6, 7, 8],
            "unroll_ow": [False, True]}


def _least_waste(size: int, blocks) -> int:
    """The block leaving the fewest padded positions (the earlier one in `blocks` on ties)."""
    return min(blocks, key=lambda b: -(-size // b) * b)


def default(node, target=None) -> dict:
    """Half a vector for rows of <= L/2 outputs, else one or two vectors (least padding),
    and 4-8 rows (least padding, the most rows on ties): <= 16 accumulators, each input
    vector reused by every row of the tile it feeds. Measured on MobileNetV2's shapes."""
    g, L = geometry(node), lanes(target)
    oh, ow = g.out_size
    ow_bn = L // 2 if ow <= L // 2 else _least_waste(ow, [L, 2 * L])
    oh_bn = _least_waste(oh, [b for b in (8, 7, 6, 5, 4) if b <= oh] or [oh])
    return {"ow_bn": ow_bn, "oh_bn": oh_bn, "unroll_ow": -(-ow // ow_bn) <= UNROLL_OW_TILES}


def compute(node, inputs, config) -> te.Tensor:
    x, w, *b = inputs
    g = geometry(node)
    if not g.depthwise:
        raise TEError("conv2d_depthwise: node is not a depthwise convolution")
    ohb, owb = config["oh_bn"], config["ow_bn"]
    (oh_n, ow_n), (sh, sw), (dh, dw) = g.out_size, g.strides, g.dilations
    ohp, owp = -(-oh_n // ohb) * ohb, -(-ow_n // owb) * owb
    inp = input_stage(x, g, (g.span(0, ohp), g.span(1, owp)))
    kh, kw = te.reduce_axis(g.kernel[0], "kh"), te.reduce_axis(g.kernel[1], "kw")
    w_at = weight_reader(w, g)
    conv = te.compute(
        (g.batch, g.out_channels, ohp, owp),
        lambda n, c, oh, ow: te.sum(inp[n, c // g.mg, oh * sh + kh * dh, ow * sw + kw * dw]
                                    * w_at(c, 0, (kh, kw)), axis=[kh, kw]),
        name="conv", tag=BLOCKED)
    y = te.compute((g.batch, g.out_channels) + g.out_size, lambda n, c, h, w_: conv[n, c, h, w_],
                   name="conv_crop", tag="conv2d_crop")
    return with_bias(y, b[0] if b else None)


def _schedule_input(s, inp) -> None:
    """Padding only: inlined (masked loads). Upsampling (ConvTranspose): its own stage."""
    if inp is None:
        return
    if any(u > 1 for u in inp.op.attrs.get("upsample", ())):
        schedule_input(s, inp)
    else:
        s[inp].compute_inline()


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    s, out, conv, inp = start_conv_schedule(outs, "conv2d_depthwise", BLOCKED)
    _schedule_input(s, inp)
    O = s[out]
    n, c, h, w = O.op.axis
    ho, hi = O.split(h, config["oh_bn"])
    wo, wi = O.split(w, config["ow_bn"])
    O.reorder(n, c, ho, wo, hi, wi)
    O.parallel(O.fuse(n, c, ho))
    O.unroll(hi)
    O.vectorize(wi)
    if config.get("unroll_ow"):
        O.unroll(wo)
    C = s[conv]
    C.compute_at(O, wo)
    cn, cc, coh, cow = C.op.axis
    rkh, rkw = C.op.reduce_axis
    C.reorder(cn, cc, rkh, rkw, coh, cow)
    for axis in (rkh, rkw, coh):
        C.unroll(axis)
    C.vectorize(cow)
    return s


DEPTHWISE = register_template(Template(
    name="conv2d_depthwise", ops=frozenset({"Conv", "ConvTranspose"}), compute=compute,
    schedule=schedule, space=space, default=default, applies=applies))
