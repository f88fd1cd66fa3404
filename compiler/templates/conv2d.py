"""Conv2d template (Conv and ConvTranspose, 2-D, not depthwise): NCHW in and out, weights
packed at compile time to [OC/oc_bn, Cg, KH, KW, oc_bn] so the inner loop broadcasts one
input value and FMAs a vector of oc_bn output channels (TVM's conv2d_NCHWc, without
re-laying out the activations):

    inp = pad(X)                                  # own stage, when there is padding
    for (n, oco, oho) in parallel(N * ceil(OC/oc_bn) * ceil(OH/oh_bn)):   # outer "oc_oh";
      for owo in serial(0, ceil(OW/ow_bn)):                   # "oh_oc": (n, oho, oco)
        acc = allocate(float32, [oh_bn, ow_bn, oc_bn], local)  # oh_bn*ow_bn*oc_bn/lanes zmm
        for ohi, owi in unrolled: for oci in vectorized(0, oc_bn): acc[ohi, owi, oci] = 0
        for ico in serial(0, Cg/ic_bn):                        # ic = ico*ic_bn + ici
          for kh in serial(0, KH): for kw in serial|unrolled(0, KW): for ici in serial(0, ic_bn):
            for ohi in unrolled(0, oh_bn): for owi in unrolled(0, ow_bn):
              for oci in vectorized(0, oc_bn):
                acc[ohi, owi, oci] += inp[n, g*Cg + ic, (oho*oh_bn + ohi)*sh + kh*dh,
                                          (owo*ow_bn + owi)*sw + kw*dw] * Wp[oco, ic, kh, kw, oci]
        for ocv in unrolled(0, oc_bn/lanes):         # one vector of channels at a time:
          for ohi, owi in unrolled: for oci in vectorized(0, lanes):  # a store tile
            Y[n, oco*oc_bn + ocv*lanes + oci, oho*oh_bn + ohi, owo*ow_bn + owi] =  # guarded
                epilogue(acc[ohi, owi, ocv*lanes + oci] + B[...])               # at edges

The blocked result is ceil(OH/oh_bn)*oh_bn high and ceil(OW/ow_bn)*ow_bn wide (inp
zero-extended to match) and the packed weights are zero-padded to whole oc blocks, so the
reduction never tests an edge; only the store does. ic_bn = 1 is the plain (ic, kh, kw)
reduction, ic_bn = Cg puts the taps outside the channels. The epilogue stages (bias, folded
BN, Relu, Clip, residual Add) are inlined into the store. Grouped convolutions need oc_bn to
divide the output channels per group.
"""

from __future__ import annotations

from .. import te
from ..te import TEError
from ..topi.conv import direct_weight, geometry, input_stage, with_bias
from .packing import blocked
from .registry import Template, register_template

BLOCKED, UNPACK = "conv2d_nchwc", "conv2d_unpack"


def lanes(target) -> int:
    """float32 lanes of the target's vectors (host target when None)."""
    from tensorforge.codegen import Target
    if not isinstance(target, Target):
        target = Target.parse(target or "llvm")
    return target.vector_bits // 32


def inline_epilogue(s, outs, keep) -> None:
    """Inline every stage except the outputs and `keep` (the epilogue chain, unpack, bias)."""
    for st in s.stages:
        if st.tensor not in outs and st.tensor not in keep:
            st.compute_inline()


def _is_2d(node) -> bool:
    return len(node.inputs[0].shape) == 4


def _constant_weight(node) -> bool:
    return getattr(node.inputs[1], "data", None) is not None


def applies(node) -> bool:
    if not (_is_2d(node) and _constant_weight(node)):
        return False
    g = geometry(node)
    return not g.depthwise and (g.group == 1 or g.mg % 4 == 0)


# ------------------------------------------------------------------ knobs


def space(node, target=None) -> dict:
    """oc_bn: output channels per vector tile (multiples of the vector width, or divisors of
    the per-group channels); ow_bn, oh_bn: output columns and rows per register tile (the
    defaults' row blocks among them; tiles of the smallest channel block that would not fit
    the registers are left out); ic_bn: input channels inside the taps loops (divisors of
    Cg); outer: which of the channel-block and row-block loops is outer (both are fused into
    the parallel loop); unroll_kw."""
    g, L = geometry(node), lanes(target)
    regs = 32 if L >= 16 else 16
    ocs = [L, 2 * L, 3 * L] if g.group == 1 else [d for d in (4, 8, 16, 32, 64) if g.mg % d == 0]
    fitted = {_ow_block(g.out_size[1], most) for most in (_most_columns(L), 8)}
    ows = [w for w in sorted(fitted.union((1, 2, 4, 6, 7, 8, 12, 14, 16, 28)))
           if w <= max(g.out_size[1], 1) * 2]
    fits = lambda oc, pixels: pixels * -(-oc // L) + -(-oc // L) + 1 <= regs
    ows = [w for w in ows if fits(min(ocs), w)]
    ohs = [h for h in (1, 2, 4) if h == 1 or (h < g.out_size[0] * 2 and fits(min(ocs), h * 2))]
    ics = [d for d in sorted({1, 4, 8, 16, 32, g.cg}) if g.cg % d == 0]
    return {"oc_bn": ocs, "ow_bn": ows, "oh_bn": ohs, "ic_bn": ics,
            "outer": ["oc_oh", "oh_oc"], "unroll_kw": [False, True]}


def _most_columns(L: int) -> int:
    """Default row block bound: 14 accumulators (AVX-512), 8 (AVX2; measured as AVX2 code on
    Zen 5: 8 columns run 1.7x faster than 4 on ResNet-18's 56x56 3x3)."""
    return 14 if L >= 16 else 8


def _ow_block(width: int, most: int) -> int:
    """A row block in [most/2, most] (the whole row when it is shorter): the largest dividing
    `width` (no guarded tail) if any, else the one padding the row least."""
    if width <= most:
        return width
    blocks = range(most // 2, most + 1)
    exact = [b for b in blocks if width % b == 0]
    return max(exact) if exact else min(blocks, key=lambda b: (-(-width // b) * b, -b))


def _wide_oc(g, L: int, ow_bn: int) -> bool:
    """Whether two vectors of output channels fit 32 registers beside ow_bn columns and pad
    the channels no more than one vector does."""
    return L >= 16 and ow_bn * 2 + 3 <= 32 \
        and -(-g.out_channels // (2 * L)) * 2 * L == -(-g.out_channels // L) * L


# The knobs a config may leave out, at the values that give the plain one-row schedule.
UNBLOCKED = {"oh_bn": 1, "ic_bn": 1, "outer": "oc_oh", "unroll_kw": False}


def default(node, target=None) -> dict:
    """A row of up to 14 (AVX-512) / 8 (AVX2) outputs times one vector of output channels,
    measured best on ResNet-18's 3x3 shapes; two vectors where that leaves too few
    accumulators (rows of <= 8: 7x7 maps) or the reduction is short per output (1x1
    kernels), and 2 vectors x 8 columns for wide kernels (the 7x7 stem). Measured on
    ResNet-18 and MobileNetV2 shapes on Zen 5 (AVX-512)."""
    g, L = geometry(node), lanes(target)
    ow_bn = _ow_block(g.out_size[1], _most_columns(L))
    if g.group > 1:
        return {**UNBLOCKED, "oc_bn": max(d for d in space(node, target)["oc_bn"] if d <= L),
                "ow_bn": ow_bn}
    if g.kernel[1] >= 5 and _wide_oc(g, L, 8):
        ow_bn = _ow_block(g.out_size[1], 8)
    wide = _wide_oc(g, L, ow_bn) and (ow_bn <= 8 or g.kernel == (1, 1))
    return {**UNBLOCKED, "oc_bn": 2 * L if wide else L, "ow_bn": ow_bn}


# ------------------------------------------------------------------ compute


def pack(node, config) -> dict:
    """W (OIHW, or ConvTranspose's IOHW) -> [ceil(OC/oc_bn), Cg, KH, KW, oc_bn], zero-padded."""
    return {1: blocked(direct_weight(node, node.inputs[1].data), config["oc_bn"])}


def compute(node, inputs, config) -> te.Tensor:
    """Y (NCHW) from X, the packed weights and the bias, through the blocked reduction."""
    x, wp, *b = inputs
    g = geometry(node)
    config = {**UNBLOCKED, **config}
    ocb, owb, ohb, icb = config["oc_bn"], config["ow_bn"], config["oh_bn"], config["ic_bn"]
    if g.group > 1 and g.mg % ocb:
        raise TEError(f"conv2d: oc_bn={ocb} must divide the {g.mg} output channels per group")
    if g.cg % icb:
        raise TEError(f"conv2d: ic_bn={icb} must divide the {g.cg} input channels per group")
    (oh_n, ow_n), (sh, sw), (dh, dw) = g.out_size, g.strides, g.dilations
    ohp, owp = -(-oh_n // ohb) * ohb, -(-ow_n // owb) * owb
    inp = input_stage(x, g, (g.span(0, ohp), g.span(1, owp)))
    ico, kh, kw, ici = te.reduce_axis(g.cg // icb, "ico"), te.reduce_axis(g.kernel[0], "kh"), \
        te.reduce_axis(g.kernel[1], "kw"), te.reduce_axis(icb, "ici")
    ic = ico * icb + ici

    def blocked_sum(n, oco, oh, ow, oci):
        c = ic if g.group == 1 else oco * ocb // g.mg * g.cg + ic
        return te.sum(inp[n, c, oh * sh + kh * dh, ow * sw + kw * dw] * wp[oco, ic, kh, kw, oci],
                      axis=[ico, kh, kw, ici])

    conv = te.compute((g.batch, wp.shape[0], ohp, owp, ocb), blocked_sum, name="conv",
                      tag=BLOCKED)
    y = te.compute((g.batch, g.out_channels) + g.out_size,
                   lambda n, k, h, w: conv[n, k // ocb, h, w, k % ocb], name="conv_unpack",
                   tag=UNPACK)
    return with_bias(y, b[0] if b else None)


# ------------------------------------------------------------------ schedule


def schedule_input(s, inp) -> None:
    """The padding stage: one parallel pass over (n, c), vectorized along rows."""
    if inp is None:
        return
    n, c, h, w = inp.op.axis
    s[inp].parallel(s[inp].fuse(n, c))
    s[inp].vectorize(w)


def start_conv_schedule(outs, template: str, blocked: str = BLOCKED, keep=()):
    """The part the conv templates share: the single group output, the blocked conv and its
    input stage, and a schedule with the epilogue inlined into the output (every stage but
    those and `keep`, the template's own intermediates)."""
    outs = list(outs)
    if len(outs) != 1:
        raise TEError(f"{template} schedule: expects one group output, got {len(outs)}")
    conv, inp = te.find_tagged(outs, blocked), te.find_tagged(outs, "conv_input")
    s = te.create_schedule(outs)
    inline_epilogue(s, outs, {conv, inp, *keep})
    return s, outs[0], conv, inp


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    s, out, conv, inp = start_conv_schedule(outs, "conv2d")
    config = {**UNBLOCKED, **config}
    ocb, owb, ohb = config["oc_bn"], config["ow_bn"], config["oh_bn"]
    schedule_input(s, inp)
    O = s[out]
    n, k, h, w = O.op.axis
    ko, ki = O.split(k, ocb)
    ho, hi = O.split(h, ohb)
    wo, wi = O.split(w, owb)
    outer = (ko, ho) if config["outer"] == "oc_oh" else (ho, ko)
    L = lanes(target)
    if ocb > L and ocb % L == 0:  # store one vector of channels per pixel at a time
        kv, ki = O.split(ki, L)
        O.reorder(n, *outer, wo, kv, hi, wi, ki)
        O.unroll(kv)
    else:
        O.reorder(n, *outer, wo, hi, wi, ki)
    O.parallel(O.fuse(n, *outer))
    O.unroll(hi)
    O.unroll(wi)
    O.vectorize(ki)
    C = s[conv]
    C.compute_at(O, wo)
    cn, cko, coh, cow, coc = C.op.axis
    rico, rkh, rkw, rici = C.op.reduce_axis
    C.reorder(cn, cko, rico, rkh, rkw, rici, coh, cow, coc)
    if config["unroll_kw"]:
        C.unroll(rkw)
    C.unroll(coh)
    C.unroll(cow)
    C.vectorize(coc)
    return s


CONV2D = register_template(Template(
    name="conv2d_nchwc", ops=frozenset({"Conv", "ConvTranspose"}), compute=compute,
    schedule=schedule, space=space, default=default, applies=applies, pack=pack))
