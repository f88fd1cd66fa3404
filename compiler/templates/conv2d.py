"""Conv2d template (Conv and ConvTranspose, 2-D, not depthwise): NCHW in and out, weights
packed at compile time to [OC/oc_bn, Cg, KH, KW, oc_bn] so the inner loop broadcasts one
input value and FMAs a vector of oc_bn output channels (TVM's conv2d_NCHWc, without
re-laying out the activations):

    inp = pad(X)                                  # own stage, when there is padding
    for (n, oco, oh) in parallel(N * ceil(OC/oc_bn) * OH):
      for owo in serial(0, ceil(OW/ow_bn)):
        acc = allocate(float32, [ow_bn, oc_bn], local)           # ow_bn*oc_bn/lanes zmm
        for owi in unrolled(0, ow_bn): for oci in vectorized(0, oc_bn): acc[owi, oci] = 0
        for ic in serial(0, Cg): for kh in serial(0, KH): for kw in serial|unrolled(0, KW):
          for owi in unrolled(0, ow_bn): for oci in vectorized(0, oc_bn):
            acc[owi, oci] += inp[n, g*Cg + ic, oh*sh + kh*dh, (owo*ow_bn + owi)*sw + kw*dw]
                             * Wp[oco, ic, kh, kw, oci]
        for owi in unrolled(0, ow_bn): for oci in vectorized(0, oc_bn):   # guarded at edges
          Y[n, oco*oc_bn + oci, oh, owo*ow_bn + owi] = epilogue(acc[owi, oci] + B[...])

The blocked result is ceil(OW/ow_bn)*ow_bn wide (inp zero-extended to match) and the packed
weights are zero-padded to whole oc blocks, so the reduction never tests an edge; only the
store does. The epilogue stages (bias, folded BN, Relu, Clip, residual Add) are inlined
into the store. Grouped convolutions need oc_bn to divide the output channels per group.
"""

from __future__ import annotations

import numpy as np

from .. import te
from ..te import TEError
from ..topi.conv import direct_weight, geometry, input_stage, with_bias
from .registry import Template, register_template

BLOCKED, UNPACK = "conv2d_nchwc", "conv2d_unpack"


def lanes(target) -> int:
    """float32 lanes of the target's vectors (host target when None)."""
    from tensorforge.codegen import Target
    if not isinstance(target, Target):
        target = Target.parse(target or "llvm")
    return target.vector_bits // 32


def find_stage(outs, tag: str):
    """The tensor with `tag` reached from `outs` (None when there is none)."""
    seen, todo = set(), list(outs)
    while todo:
        t = todo.pop()
        if t.op.tag == tag:
            return t
        for x in t.op.input_tensors():
            if x not in seen:
                seen.add(x)
                todo.append(x)
    return None


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
    the per-group channels); ow_bn: output columns per register tile; unroll_kw."""
    g, L = geometry(node), lanes(target)
    regs = 32 if L >= 16 else 16
    ocs = [L, 2 * L, 3 * L] if g.group == 1 else [d for d in (4, 8, 16, 32, 64) if g.mg % d == 0]
    ows = [w for w in (1, 2, 4, 6, 7, 8, 12, 14, 16, 28) if w <= max(g.out_size[1], 1) * 2]
    fits = lambda oc, ow: ow * -(-oc // L) + -(-oc // L) + 1 <= regs
    return {"oc_bn": ocs, "ow_bn": [w for w in ows if any(fits(o, w) for o in ocs)],
            "unroll_kw": [False, True]}


def _ow_block(width: int, most: int) -> int:
    """The largest ow_bn <= most dividing `width` (no wasted columns) unless that is tiny."""
    best = max(d for d in range(1, min(width, most) + 1) if width % d == 0)
    return best if best >= most // 2 else min(width, most)


def default(node, target=None) -> dict:
    """One vector of output channels and a row of up to 14 (AVX-512) / 6 (AVX2) outputs:
    ow_bn accumulators, measured best on ResNet-18 shapes."""
    g, L = geometry(node), lanes(target)
    oc_bn = L if g.group == 1 else max(d for d in space(node, target)["oc_bn"] if d <= L)
    return {"oc_bn": oc_bn, "ow_bn": _ow_block(g.out_size[1], 14 if L >= 16 else 6),
            "unroll_kw": False}


# ------------------------------------------------------------------ compute


def pack(node, config) -> dict:
    """W (OIHW, or ConvTranspose's IOHW) -> [ceil(OC/oc_bn), Cg, KH, KW, oc_bn], zero-padded."""
    ocb = config["oc_bn"]
    w = direct_weight(node, node.inputs[1].data)
    oc, cg, kh, kw = w.shape
    kb = -(-oc // ocb)
    padded = np.zeros((kb * ocb, cg, kh, kw), w.dtype)
    padded[:oc] = w
    return {1: np.ascontiguousarray(padded.reshape(kb, ocb, cg, kh, kw).transpose(0, 2, 3, 4, 1))}


def compute(node, inputs, config) -> te.Tensor:
    """Y (NCHW) from X, the packed weights and the bias, through the blocked reduction."""
    x, wp, *b = inputs
    g = geometry(node)
    ocb, owb = config["oc_bn"], config["ow_bn"]
    if g.group > 1 and g.mg % ocb:
        raise TEError(f"conv2d: oc_bn={ocb} must divide the {g.mg} output channels per group")
    (oh_n, ow_n), (sh, sw), (dh, dw) = g.out_size, g.strides, g.dilations
    owp = -(-ow_n // owb) * owb
    inp = input_stage(x, g, (g.span(0), g.span(1, owp)))
    ic, kh, kw = te.reduce_axis(g.cg, "ic"), te.reduce_axis(g.kernel[0], "kh"), \
        te.reduce_axis(g.kernel[1], "kw")

    def blocked(n, oco, oh, ow, oci):
        c = ic if g.group == 1 else oco * ocb // g.mg * g.cg + ic
        return te.sum(inp[n, c, oh * sh + kh * dh, ow * sw + kw * dw] * wp[oco, ic, kh, kw, oci],
                      axis=[ic, kh, kw])

    conv = te.compute((g.batch, wp.shape[0], oh_n, owp, ocb), blocked, name="conv",
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


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    outs = list(outs)
    if len(outs) != 1:
        raise TEError(f"conv2d schedule: expects one group output, got {len(outs)}")
    out = outs[0]
    conv, inp = find_stage(outs, BLOCKED), find_stage(outs, "conv_input")
    ocb, owb = config["oc_bn"], config["ow_bn"]
    s = te.create_schedule(outs)
    inline_epilogue(s, outs, {conv, inp})
    schedule_input(s, inp)
    O = s[out]
    n, k, h, w = O.op.axis
    ko, ki = O.split(k, ocb)
    wo, wi = O.split(w, owb)
    O.reorder(n, ko, h, wo, wi, ki)
    O.parallel(O.fuse(n, ko, h))
    O.unroll(wi)
    O.vectorize(ki)
    C = s[conv]
    C.compute_at(O, wo)
    cn, cko, coh, cow, coc = C.op.axis
    ric, rkh, rkw = C.op.reduce_axis
    C.reorder(cn, cko, coh, ric, rkh, rkw, cow, coc)
    if config.get("unroll_kw"):
        C.unroll(rkw)
    C.unroll(cow)
    C.vectorize(coc)
    return s


CONV2D = register_template(Template(
    name="conv2d_nchwc", ops=frozenset({"Conv", "ConvTranspose"}), compute=compute,
    schedule=schedule, space=space, default=default, applies=applies, pack=pack))
