"""Vector loop IR -> per-lane scalar IR, for the CUDA emitter.

CUDA C has no generic vector arithmetic, so after the vectorize pass (128-bit, 4 float32
lanes) each vector expression is split into its lanes:

    C[ramp(b, 1, 4)] = A[ramp(b, 1, 4)] * 2.0      (b a multiple of 4)
  ->
    const float4 v = *reinterpret_cast<const float4*>(A + b);   # one 16-byte load
    *reinterpret_cast<float4*>(C + b) = make_float4(v.x * 2.0f, v.y * 2.0f, ...);

A contiguous 4-lane float32 access becomes one float4 load/store when its index is provably
a multiple of 4 (buffer pointers are 16-byte aligned: cudaMalloc'd, or `__align__(16)`
shared arrays); every other vector access is one scalar access per lane. A masked load lane
is `mask ? A[i] : 0`, safe because C's `?:` evaluates only the taken side.
"""

from __future__ import annotations

from typing import Callable

from ..compiler import tir
from ..compiler.tir import Binary, Broadcast, Call, Cast, Compare, Const, Expr, Load, Ramp, \
    Select, Var
from ..compiler.tir_simplify import simplify_expr

WIDE_LANES = 4  # float4: the widest CUDA load/store for float32
VarLane = Callable[[Var, int], Expr]

LANE = {  # (expression, lane, var_lane) -> that lane, unsimplified
    Ramp: lambda e, k, f: e.base + e.stride * k,
    Broadcast: lambda e, k, f: e.value,
    Var: lambda e, k, f: f(e, k),
    Binary: lambda e, k, f: Binary(e.op, _lane(e.a, k, f), _lane(e.b, k, f)),
    Compare: lambda e, k, f: Compare(e.op, _lane(e.a, k, f), _lane(e.b, k, f)),
    Select: lambda e, k, f: Select(_lane(e.cond, k, f), _lane(e.t, k, f), _lane(e.f, k, f)),
    Cast: lambda e, k, f: Cast(tir.element(e.dtype), _lane(e.x, k, f)),
    Call: lambda e, k, f: Call(e.name, tuple(_lane(a, k, f) for a in e.args),
                               tir.element(e.dtype)),
    Load: lambda e, k, f: _load_lane(e, k, f),
}


def _load_lane(e: Load, k: int, var_lane: VarLane) -> Expr:
    scalar = Load(e.buffer, _lane(e.index, k, var_lane))
    if e.mask is None:
        return scalar
    return Select(_lane(e.mask, k, var_lane), scalar, Const(0, e.buffer.dtype))


def _lane(e: Expr, k: int, var_lane: VarLane) -> Expr:
    return e if tir.lanes(e.dtype) == 1 else LANE[type(e)](e, k, var_lane)


def lane(e: Expr, k: int, var_lane: VarLane) -> Expr:
    """Lane `k` of `e` as a scalar expression; `var_lane(v, k)` names lane k of a vector Var."""
    return simplify_expr(_lane(e, k, var_lane))


def aligned(e: Expr, n: int) -> bool:
    """Whether the integer `e` is provably a multiple of `n` (sums and products of constants)."""
    if isinstance(e, Const):
        return e.value % n == 0
    if isinstance(e, Binary) and e.op == "mul":
        return aligned(e.a, n) or aligned(e.b, n)
    if isinstance(e, Binary) and e.op in ("add", "sub"):
        return aligned(e.a, n) and aligned(e.b, n)
    return False


def wide(index: Expr, buffer: tir.Buffer) -> bool:
    """A float4 access: 4 contiguous float32 lanes from an aligned start, not in registers."""
    return (isinstance(index, Ramp) and index.lanes == WIDE_LANES and buffer.dtype == "float32"
            and isinstance(index.stride, Const) and index.stride.value == 1
            and buffer.scope != "local" and aligned(index.base, WIDE_LANES))


def wide_loads(e: Expr) -> list:
    """The unmasked float4-able loads of `e`, each once, in first-use order."""
    return list(dict.fromkeys(n for n in tir.walk(e) if isinstance(n, Load) and n.mask is None
                              and wide(n.index, n.buffer)))
