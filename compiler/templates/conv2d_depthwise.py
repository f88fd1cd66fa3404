"""Depthwise conv2d template (one input channel per group: MobileNet's 3x3, stride 1 or 2),
vectorized along the output row, NCHW in and out. A strided conv first splits each padded
input row into its `sw` phases (column q*sw + r -> [r, q]), so every tap reads a contiguous
vector whatever the stride:

    inp[n, c, h, r, q] = pad(X)[n, c, h, q*sw + r]              # own stage (sw = 1: pad only)
    for (n, c, oho) in parallel(N * OC * ceil(OH/oh_bn)):
      for owo in serial(0, ceil(OW/ow_bn)):
        acc = allocate(float32, [oh_bn, ow_bn], local)         # oh_bn * ow_bn/lanes vectors
        for kh in unrolled(0, KH): for kw in unrolled(0, KW):
          for ohi in unrolled(0, oh_bn): for owi in vectorized(0, ow_bn):
            acc[ohi, owi] += inp[n, c/M, oh*sh + kh*dh, (kw*dw) % sw, ow + (kw*dw) // sw]
                             * W[c, 0, kh, kw]
        for ohi in unrolled(0, oh_bn): for owi in vectorized(0, ow_bn):   # guarded at edges
          Y[n, c, oh, ow] = epilogue(acc[ohi, owi] + B[c])

The blocked result covers whole tiles (inp zero-extended to match), so only the store tests
the edges.
"""

from __future__ import annotations

from .. import te
from ..te import TEError
from ..topi.conv import geometry, input_stage, padded_value, weight_reader, with_bias
from .conv2d import find_stage, inline_epilogue, lanes, schedule_input
from .registry import Template, register_template

BLOCKED = "conv2d_depthwise"


def applies(node) -> bool:
    return len(node.inputs[0].shape) == 4 and geometry(node).depthwise


def space(node, target=None) -> dict:
    """ow_bn: row vector (1-4 vectors); oh_bn: output rows per register tile."""
    L = lanes(target)
    return {"ow_bn": [L, 2 * L, 3 * L, 4 * L], "oh_bn": [1, 2, 3, 4, 6, 8]}


def _least_waste(size: int, blocks) -> int:
    """The block leaving the fewest padded positions (the larger one on ties)."""
    return min(blocks, key=lambda b: (-(-size // b) * b, -b))


def default(node, target=None) -> dict:
    """A row tile with the least padding (at most 2 vectors) and up to 4 rows: <= 8
    accumulators, each input vector reused across the rows it feeds."""
    g, L = geometry(node), lanes(target)
    oh, ow = g.out_size
    ow_bn = _least_waste(ow, [L, 2 * L])
    return {"ow_bn": ow_bn, "oh_bn": _least_waste(oh, [4, 3, 2]) if oh > 1 else 1}


def compute(node, inputs, config) -> te.Tensor:
    x, w, *b = inputs
    g = geometry(node)
    if not g.depthwise:
        raise TEError("conv2d_depthwise: node is not a depthwise convolution")
    ohb, owb = config["oh_bn"], config["ow_bn"]
    (oh_n, ow_n), (sh, sw), (dh, dw) = g.out_size, g.strides, g.dilations
    ohp, owp = -(-oh_n // ohb) * ohb, -(-ow_n // owb) * owb
    rows = g.span(0, ohp)
    if sw == 1:
        inp = input_stage(x, g, (rows, g.span(1, owp)))
        read = lambda n, c, h, ow, kw: inp[n, c, h, ow + kw * dw]
    else:
        phases = owp + (g.kernel[1] - 1) * dw // sw
        inp = te.compute((g.batch, g.channels, rows, sw, phases),
                         lambda n, c, h, r, q: padded_value(x, g, n, c, (h, q * sw + r)),
                         name="conv_input", tag="conv_input")
        read = lambda n, c, h, ow, kw: inp[n, c, h, kw * dw % sw, ow + kw * dw // sw]
    kh, kw = te.reduce_axis(g.kernel[0], "kh"), te.reduce_axis(g.kernel[1], "kw")
    w_at = weight_reader(w, g)
    conv = te.compute(
        (g.batch, g.out_channels, ohp, owp),
        lambda n, c, oh, ow: te.sum(read(n, c // g.mg, oh * sh + kh * dh, ow, kw)
                                    * w_at(c, 0, (kh, kw)), axis=[kh, kw]),
        name="conv", tag=BLOCKED)
    y = te.compute((g.batch, g.out_channels) + g.out_size, lambda n, c, h, w_: conv[n, c, h, w_],
                   name="conv_crop", tag="conv2d_crop")
    return with_bias(y, b[0] if b else None)


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    outs = list(outs)
    if len(outs) != 1:
        raise TEError(f"conv2d_depthwise schedule: expects one group output, got {len(outs)}")
    out = outs[0]
    conv, inp = find_stage(outs, BLOCKED), find_stage(outs, "conv_input")
    s = te.create_schedule(outs)
    inline_epilogue(s, outs, {conv, inp})
    if inp is not None:
        schedule_input(s, inp) if inp.ndim == 4 else _schedule_phases(s, inp)
    O = s[out]
    n, c, h, w = O.op.axis
    ho, hi = O.split(h, config["oh_bn"])
    wo, wi = O.split(w, config["ow_bn"])
    O.reorder(n, c, ho, wo, hi, wi)
    O.parallel(O.fuse(n, c, ho))
    O.unroll(hi)
    O.vectorize(wi)
    C = s[conv]
    C.compute_at(O, wo)
    cn, cc, coh, cow = C.op.axis
    rkh, rkw = C.op.reduce_axis
    C.reorder(cn, cc, rkh, rkw, coh, cow)
    for axis in (rkh, rkw, coh):
        C.unroll(axis)
    C.vectorize(cow)
    return s


def _schedule_phases(s, inp) -> None:
    n, c, h, r, q = inp.op.axis
    s[inp].parallel(s[inp].fuse(n, c))
    s[inp].vectorize(q)


DEPTHWISE = register_template(Template(
    name="conv2d_depthwise", ops=frozenset({"Conv", "ConvTranspose"}), compute=compute,
    schedule=schedule, space=space, default=default, applies=applies))
