"""Winograd conv2d template F(m x m, 3 x 3) (Lavin & Gray): a 3x3 stride-1 convolution as
alpha x alpha (alpha = m + 2) independent GEMMs over tiles, with m*m outputs of a tile from
alpha*alpha products instead of 9*m*m (m = 4: 4x fewer multiplies, m = 2: 2.25x):

    U[e, ko, c, ki] = (G w[k, c] G^T)[e],  k = ko*k_bn + ki       # weights, at compile time
    T[p, eps, b, c] = sum_a BT[eps, a] * inp[n, c, th*m + a, tw*m + b]     # input transform,
    V[eps, nu, p, c] = sum_b BT[nu, b] * T[p, eps, b, c]                   # separable
    M[eps, nu, ko, p, ki] = sum_c V[eps, nu, p, c] * U[eps, nu, ko, c, ki] # 36 GEMMs (m = 4)
    O[n, th, tw, i, nu, k] = sum_eps AT[i, eps] * M[eps, nu, k // k_bn, p, k % k_bn]
    Y[n, k, th*m + i, tw*m + j] = sum_nu AT[j, nu] * O[n, th, tw, i, nu, k]  (+ epilogue)

with tile p = (n*TH + th)*TW + tw. The transforms' coefficients are Python constants: each
row is an explicit sum of its non-zero terms, chosen by a select on the row index that
unrolling folds away, so no multiply by 0 or 1 reaches the machine code. The GEMM is the
direct conv's micro-kernel (broadcast one V value, FMA a vector of k_bn output channels into
a p_bn x k_bn register tile). T and O live in registers per tile; V and M are kernel
scratch.

Winograd trades exactness for speed (products of the transformed values round differently:
measured max error 7e-7 of the output scale for m = 2, 4e-6 for m = 4), so it is never a
default: it is an alternative template (Template.alternative) the tuner measures beside the
direct conv, and a tuning record naming it ("template": "conv2d_winograd") selects it.
"""

from __future__ import annotations

import numpy as np

from .. import te
from ..aligned import aligned_empty
from ..topi.conv import direct_weight, geometry, input_stage, with_bias
from .conv2d import _constant_weight, lanes, schedule_input, start_conv_schedule
from .packing import blocked
from .registry import Template, register_template

NAME = "conv2d_winograd"

# Transform matrices (interpolation points 0, 1, -1 [, 2, -2] and infinity).
MATRICES = {
    2: {"BT": [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        "G": [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        "AT": [[1, 1, 1, 0], [0, 1, -1, -1]]},
    4: {"BT": [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        "G": [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        "AT": [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]]},
}


def applies(node) -> bool:
    """2-D Conv, 3x3, stride 1, no dilation, one group, float32, constant weights, input
    channels a multiple of 16 (whole vectors on AVX2 and AVX-512)."""
    if node.op != "Conv" or len(node.inputs[0].shape) != 4 or not _constant_weight(node):
        return False
    g = geometry(node)
    return (g.kernel == (3, 3) and g.strides == (1, 1) and g.dilations == (1, 1)
            and g.group == 1 and g.dtype == "float32" and g.channels % 16 == 0
            and min(g.out_size) > 0)


def _tiles(g, m: int) -> tuple[int, int, int]:
    """(TH, TW, P): tiles down, across, and in all."""
    th, tw = -(-g.out_size[0] // m), -(-g.out_size[1] // m)
    return th, tw, g.batch * th * tw


# ------------------------------------------------------------------ knobs

P_BLOCKS = (4, 6, 7, 8, 12, 14)


def space(node, target=None) -> dict:
    """m: output tile (2 or 4); k_bn: output channels per GEMM register tile (1 or 2
    vectors); p_bn: tiles per register tile (p_bn x k_bn accumulators fit 32 registers)."""
    L = lanes(target)
    return {"template": [NAME], "m": [4, 2], "k_bn": [L, 2 * L],
            "p_bn": [p for p in P_BLOCKS if p + 2 <= _registers(L)]}


def _registers(L: int) -> int:
    return 32 if L >= 16 else 16


def default(node, target=None) -> dict:
    """F(4x4, 3x3), 14 tiles by two vectors of channels where that fits the registers
    (AVX-512; the direct conv's tile shape), else by one."""
    L = lanes(target)
    kb = 2 * L if 2 * 14 + 3 <= _registers(L) else L
    return {"template": NAME, "m": 4, "k_bn": kb, "p_bn": 14}


# ------------------------------------------------------------------ compute


def pack(node, config) -> dict:
    """W (OIHW) -> U [alpha, alpha, ceil(K/k_bn), C, k_bn]: G w G^T per (k, c), in float64,
    then blocked along k like the direct conv's weights."""
    m, kb = config["m"], config["k_bn"]
    G = np.array(MATRICES[m]["G"])
    w = direct_weight(node, node.inputs[1].data).astype(np.float64)
    u = np.einsum("ea,kcab,nb->kenc", G, w, G).astype(np.float32)   # [K, eps, nu, C]
    packed = blocked(u, kb)                                           # [KO, eps, nu, C, kb]
    out = aligned_empty(packed.shape[1:3] + packed.shape[:1] + packed.shape[3:], np.float32)
    np.copyto(out, packed.transpose(1, 2, 0, 3, 4))
    return {1: out}


def _row(coeffs, term):
    """sum_a coeffs[a] * term(a) over the non-zero coefficients, a positive term first."""
    nz = sorted(((c, a) for a, c in enumerate(coeffs) if c), key=lambda ca: ca[0] < 0)
    total = None
    for c, a in nz:
        x = term(a)
        x = x if abs(c) == 1 else x * float(abs(c))
        total = x if total is None else (total + x if c > 0 else total - x)
    return total


def _rows(matrix, index, term):
    """Row `index` of matrix @ term: a select over the rows (a constant once unrolled)."""
    out = _row(matrix[-1], term)
    for r in range(len(matrix) - 2, -1, -1):
        out = te.select(index.eq(r), _row(matrix[r], term), out)
    return out


def compute(node, inputs, config) -> te.Tensor:
    x, u, *b = inputs
    g = geometry(node)
    m, kb, pb = config["m"], config["k_bn"], config["p_bn"]
    BT, AT, alpha = MATRICES[m]["BT"], MATRICES[m]["AT"], m + 2
    TH, TW, P = _tiles(g, m)
    pp, ko, C, K = -(-P // pb) * pb, u.shape[2], g.channels, g.out_channels
    inp = input_stage(x, g, (TH * m + 2, TW * m + 2))

    def tile(p, c, a, bb):  # rows past the last tile repeat it (their results are not read)
        p = te.min(p, P - 1)
        return inp[p // (TH * TW), c, p // TW % TH * m + a, p % TW * m + bb]

    t = te.compute((pp, alpha, alpha, C), lambda p, eps, bb, c:
                   _rows(BT, eps, lambda a: tile(p, c, a, bb)), name="wino_t")
    v = te.compute((alpha, alpha, pp, C), lambda eps, nu, p, c:
                   _rows(BT, nu, lambda bb: t[p, eps, bb, c]), name="wino_v", tag="wino_v")
    rc = te.reduce_axis(C, "rc")
    acc = te.compute((alpha, alpha, ko, pp, kb), lambda eps, nu, o, p, i:
                     te.sum(v[eps, nu, p, rc] * u[eps, nu, o, rc, i], axis=[rc]),
                     name="wino_gemm", tag="wino_gemm")
    mm = te.compute(acc.shape, lambda *i: acc[i], name="wino_m", tag="wino_m")

    def row_of_m(n, th, tw, i, nu, k):
        p = (n * TH + th) * TW + tw
        return _rows(AT, i, lambda eps: mm[eps, nu, k // kb, p, k % kb])

    o = te.compute((g.batch, TH, TW, m, alpha, K), row_of_m, name="wino_o", tag="wino_o")
    y = te.compute((g.batch, K) + g.out_size, lambda n, k, h, w: _rows(
        AT, w % m, lambda nu: o[n, h // m, w // m, h % m, nu, k]), name="wino_y")
    return with_bias(y, b[0] if b else None)


# ------------------------------------------------------------------ schedule


def _vector_tile(stage, axis, width: int, L: int) -> None:
    """Vectorize `axis` (extent `width`): one vector, or unrolled vectors of L lanes."""
    if width > L and width % L == 0:
        outer, inner = stage.split(axis, L)
        stage.unroll(outer)
        stage.vectorize(inner)
    else:
        stage.vectorize(axis)


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    v, mm, o = (te.find_tagged(outs, tag) for tag in ("wino_v", "wino_m", "wino_o"))
    (t,) = v.op.input_tensors()
    s, out_t, acc, inp = start_conv_schedule(outs, NAME, "wino_gemm", keep=(t, v, mm, o))
    L, m, kb, pb = lanes(target), config["m"], config["k_bn"], config["p_bn"]
    schedule_input(s, inp)
    # input transform: per tile and vector of channels, T then V in registers
    V = s[v]
    eps, nu, p, c = V.op.axis
    co, ci = V.split(c, L)
    V.reorder(p, co, eps, nu, ci)
    V.parallel(p)
    V.unroll(eps)
    V.unroll(nu)
    V.vectorize(ci)
    T = s[t]
    T.compute_at(V, co)
    _, teps, tb, tc = T.op.axis
    T.unroll(teps)
    T.unroll(tb)
    T.vectorize(tc)
    # the GEMMs: a p_bn x k_bn accumulator tile per (eps, nu, ko, p block)
    Ms = s[mm]
    meps, mnu, mko, mp, mk = Ms.op.axis
    po, pi = Ms.split(mp, pb)
    Ms.parallel(Ms.fuse(meps, mnu, mko))
    Ms.unroll(pi)
    _vector_tile(Ms, mk, kb, L)
    A = s[acc]
    A.compute_at(Ms, po)
    _, _, _, ap, ak = A.op.axis
    (rc,) = A.op.reduce_axis
    A.reorder(rc, ap, ak)
    A.unroll(ap)
    A.vectorize(ak)
    # output transform and epilogue: per tile and vector of channels
    out = s[out_t]
    n, k, h, w = out.op.axis
    th, hi = out.split(h, m)
    tw, wi = out.split(w, m)
    kbo, kbi = out.split(k, kb)          # k // k_bn folds to kbo: M's block index
    kv, ki = out.split(kbi, L)
    out.reorder(n, th, tw, kbo, kv, hi, wi, ki)
    out.parallel(out.fuse(n, th))
    out.unroll(hi)
    out.unroll(wi)
    out.vectorize(ki)
    O = s[o]
    O.compute_at(out, kv)
    *_, oi, onu, ok = O.op.axis
    O.unroll(oi)
    O.unroll(onu)
    O.vectorize(ok)
    return s


CONV2D_WINOGRAD = register_template(Template(
    name=NAME, ops=frozenset({"Conv"}), compute=compute, schedule=schedule, space=space,
    default=default, applies=applies, pack=pack, alternative=True))
