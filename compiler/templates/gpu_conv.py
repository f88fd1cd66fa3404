"""GPU convolution templates (Conv and ConvTranspose, 2-D, NCHW on "cuda"): direct
convolution with the input tile staged in shared memory. The compute is topi's direct
convolution (zero padding and ConvTranspose's upsampling inlined into the shared-memory
load, weights read in their own layout, bias and epilogue inlined into the store).

conv2d (not depthwise): per block an oc_block x (oh_block x ow_block) output tile, per thread
thread_oc output channels of one position (a register tile); the reduction steps through
ic_step input channels at a time, the block staging their input and weight tiles:

    for (n, oco) in blockIdx.z: for oho in blockIdx.y: for owo in blockIdx.x:
      for tk in threadIdx.y(0, oc_block/thread_oc):
        for p in threadIdx.x(0, oh_block*ow_block):           # (ohi, owi) = divmod(p, ow_block)
          acc = allocate(float32, [thread_oc], local); acc[:] = 0
          for ico in serial(0, ceil(Cg/ic_step)):
            IS = allocate(float32, [1, ic_step, span_h, span_w], shared)   # cooperative load,
            WS = allocate(float32, [oc_block, ic_step, KH, KW], shared)    # between barriers
            for ici in serial(0, ic_step): for kh: for kw:
              for r in unrolled(0, thread_oc):
                acc[r] += IS[0, ici, ohi*sh + kh*dh, owi*sw + kw*dw] * WS[tk*thread_oc + r, ici, kh, kw]
          for r in unrolled(0, thread_oc):                   # guarded at OC, OH, OW edges
            Y[n, oco*oc_block + tk*thread_oc + r, oho*oh_block + ohi, owo*ow_block + owi] =
                epilogue(acc[r] + B[...])

depthwise: per block an oh_block x ow_block tile of one channel, one output per thread; the
block stages the input tile it reads:

    for (n, c, oho, owo) in blockIdx.x:
      for ohi in threadIdx.y(0, oh_block): for owi in threadIdx.x(0, ow_block):
        IS = allocate(float32, [1, 1, span_h, span_w], shared)   # cooperative load, barriers
        acc = 0
        for kh in unrolled(0, KH): for kw in unrolled(0, KW):
          acc += IS[0, 0, ohi*sh + kh*dh, owi*sw + kw*dw] * W[c, 0, kh, kw]
        Y[n, c, oh, ow] = epilogue(acc + B[c])                   # guarded at the edges

Knobs: conv2d oc_block, thread_oc, oh_block, ow_block, ic_step; depthwise oh_block, ow_block.
"""

from __future__ import annotations

from .. import te
from .generic import _compute
from ..topi.conv import geometry
from .conv2d import start_conv_schedule
from .gpu_common import MAX_THREADS, cooperative_load, pow2_at_least
from .registry import Template, register_template

CONV = "conv"  # topi's direct convolution tag
OW_BLOCKS = [1, 2, 4, 7, 8, 14, 16, 28, 32]


def _is_2d(node) -> bool:
    return len(node.inputs[0].shape) == 4 and node.inputs[0].dtype == "float32"


def _start(outs, name):
    """The schedule with the epilogue and the padding inlined, and the conv's register
    accumulator (cache_write) whose reads get staged: (s, output, accumulator)."""
    s, out, conv, inp = start_conv_schedule(outs, name, CONV)
    if inp is not None:
        s[inp].compute_inline()
    acc = s.cache_write(conv, "local")
    if conv is not out:
        s[conv].compute_inline()
    return s, out, acc


def _check_threads(name: str, threads: int):
    """(The shared tiles' size is checked by the CUDA code generator, which sees them.)"""
    if threads > MAX_THREADS:
        raise te.TEError(f"{name}: {threads} threads per block (at most {MAX_THREADS})")


# ------------------------------------------------------------------ conv2d


def conv2d_applies(node) -> bool:
    return _is_2d(node) and not geometry(node).depthwise


def conv2d_space(node, target=None) -> dict:
    return {"oc_block": [8, 16, 32, 64], "thread_oc": [1, 2, 4, 8],
            "oh_block": [1, 2, 4, 8, 16, 32], "ow_block": OW_BLOCKS, "ic_step": [1, 2, 3, 4, 8, 16]}


def conv2d_default(node, target=None) -> dict:
    """32 channels x 32 positions per block, 4 channels per thread (256 threads); fewer
    when the map or the channels are smaller. A point of conv2d_space."""
    g = geometry(node)
    oh, ow = g.out_size
    ow_block = max(b for b in OW_BLOCKS if b <= min(ow, 8))
    return {"oc_block": pow2_at_least(g.out_channels, 8, 32), "thread_oc": 4,
            "oh_block": pow2_at_least(oh, 1, 32 // ow_block), "ow_block": ow_block,
            "ic_step": max(c for c in (1, 2, 3, 4, 8) if c <= g.cg)}


def conv2d_schedule(outs, anchor, config, target=None) -> te.Schedule:
    ocb, toc, ohb, owb, icb = (config[k] for k in ("oc_block", "thread_oc", "oh_block",
                                                   "ow_block", "ic_step"))
    if ocb % toc:
        raise te.TEError(f"gpu_conv2d: thread_oc={toc} must divide oc_block={ocb}")
    s, out, acc = _start(outs, "gpu_conv2d")
    O = s[out]
    n, k, h, w = out.op.axis
    ko, ki = O.split(k, ocb)
    tk, rk = O.split(ki, toc)
    ho, hi = O.split(h, ohb)
    wo, wi = O.split(w, owb)
    O.reorder(n, ko, ho, wo, tk, hi, wi, rk)
    p = O.fuse(hi, wi)
    O.bind(O.fuse(n, ko), "blockIdx.z")
    O.bind(ho, "blockIdx.y")
    O.bind(wo, "blockIdx.x")
    O.bind(tk, "threadIdx.y")
    O.bind(p, "threadIdx.x")
    O.unroll(rk)
    L = s[acc]
    L.compute_at(O, p)
    rc, *taps = acc.op.reduce_axis
    rco, rci = L.split(rc, icb)
    L.reorder(rco, rci, *taps, *acc.op.axis)
    L.unroll(acc.op.axis[1])
    threads = (ohb * owb, ocb // toc)
    _check_threads("gpu_conv2d", threads[0] * threads[1])
    for operand in acc.op.input_tensors():
        cooperative_load(s, s.cache_read(operand, "shared", [acc]), acc, rco, threads)
    return s


# ------------------------------------------------------------------ depthwise


def depthwise_applies(node) -> bool:
    return _is_2d(node) and geometry(node).depthwise


def depthwise_space(node, target=None) -> dict:
    return {"oh_block": [1, 2, 4, 8, 16], "ow_block": OW_BLOCKS}


def depthwise_default(node, target=None) -> dict:
    """Up to 32 columns x 8 rows of one channel per block."""
    oh, ow = geometry(node).out_size
    ow_block = pow2_at_least(ow, 8, 32)
    return {"oh_block": min(pow2_at_least(oh, 1, 8), max(1, 256 // ow_block)),
            "ow_block": ow_block}


def depthwise_schedule(outs, anchor, config, target=None) -> te.Schedule:
    ohb, owb = config["oh_block"], config["ow_block"]
    s, out, acc = _start(outs, "gpu_depthwise")
    O = s[out]
    n, c, h, w = out.op.axis
    ho, hi = O.split(h, ohb)
    wo, wi = O.split(w, owb)
    O.reorder(n, c, ho, wo, hi, wi)
    O.bind(O.fuse(n, c, ho, wo), "blockIdx.x")
    O.bind(hi, "threadIdx.y")
    O.bind(wi, "threadIdx.x")
    L = s[acc]
    L.compute_at(O, wi)
    for tap in acc.op.reduce_axis[1:]:
        L.unroll(tap)
    _check_threads("gpu_depthwise", ohb * owb)
    inp = acc.op.input_tensors()[0]
    cooperative_load(s, s.cache_read(inp, "shared", [acc]), acc, acc.op.axis[0], (owb, ohb))
    return s


GPU_CONV2D = register_template(Template(
    name="gpu_conv2d", ops=frozenset({"Conv", "ConvTranspose"}), compute=_compute,
    schedule=conv2d_schedule, space=conv2d_space, default=conv2d_default,
    applies=conv2d_applies, target_kinds=frozenset({"cuda"})))
GPU_DEPTHWISE = register_template(Template(
    name="gpu_depthwise", ops=frozenset({"Conv", "ConvTranspose"}), compute=_compute,
    schedule=depthwise_schedule, space=depthwise_space, default=depthwise_default,
    applies=depthwise_applies, target_kinds=frozenset({"cuda"})))
