"""Vectorize: turn `vectorized` loops into Ramp/Broadcast vector code (TVM's VectorizeLoop).

A loop `for j in vectorized(0, E)` becomes chunks of L lanes (L = vector bits / widest
element bits of the buffers it touches) plus a tail for E % L:

    for j.c in unrolled(0, E // L):         # (serial when there are many chunks)
      C[ramp(j.c * L, 1, L)] = A[ramp(j.c * L, 1, L)] + B[ramp(...)]
    C[ramp(E//L*L, 1, L)] = ... where ramp(E//L*L, 1, L) < E     # masked tail

A tail whose length is a power of two is a narrower unmasked vector instead. Loop-invariant
loads stay scalar and are broadcast. Bodies that cannot be vectorized (a store to a
loop-invariant index such as a reduction into one cell, an Allocate, nested vector code)
keep a serial loop, as TVM does. `vectorized` asserts that iterations are independent.
"""

from __future__ import annotations

from . import tir
from .tir import (Binary, Broadcast, Call, Cast, Compare, Const, Expr, For, Load, Ramp, Select,
                  Store, Var)
from .tir_simplify import simplify


class NotVectorizable(Exception):
    """Raised inside the transform; the loop then stays serial."""


def _lanes(e: Expr) -> int:
    return tir.lanes(e.dtype)


def _widen(e: Expr, n: int) -> Expr:
    """Broadcast a scalar to n lanes (vectors pass through)."""
    return e if _lanes(e) == n else Broadcast(e, n)


def _scalar_of(e: Expr) -> Expr:
    return e.value if isinstance(e, Broadcast) else e


def _ramp_add(op, a, b):
    """Ramp +/- scalar and Ramp +/- Ramp stay Ramps, so contiguous accesses stay visible."""
    if isinstance(a, Ramp) and isinstance(b, Ramp):
        return Ramp(Binary(op, a.base, b.base), Binary(op, a.stride, b.stride), a.lanes)
    if isinstance(a, Ramp) and _lanes(_scalar_of(b)) == 1:
        return Ramp(Binary(op, a.base, _scalar_of(b)), a.stride, a.lanes)
    if op == "add" and isinstance(b, Ramp) and _lanes(_scalar_of(a)) == 1:
        return _ramp_add(op, b, a)
    return None


def _ramp_mul(op, a, b):
    if isinstance(b, Ramp):
        a, b = b, a
    if isinstance(a, Ramp) and _lanes(_scalar_of(b)) == 1:
        s = _scalar_of(b)
        return Ramp(Binary("mul", a.base, s), Binary("mul", a.stride, s), a.lanes)
    return None


RAMP_ALGEBRA = {"add": _ramp_add, "sub": _ramp_add, "mul": _ramp_mul}


class _Vectorizer:
    """Rewrites one loop body with `var` replaced by `ramp`, loads/stores masked by `mask`."""

    def __init__(self, var: Var, ramp: Ramp, mask: Expr | None):
        self.var, self.ramp, self.lanes, self.mask = var, ramp, ramp.lanes, mask
        self.lets: dict = {}

    # ------------------------------------------------------------ expressions
    def expr(self, e: Expr) -> Expr:
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_Var(self, e):
        return self.ramp if e is self.var else self.lets.get(e, e)

    def e_Const(self, e):
        return e

    def e_Binary(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        if _lanes(a) == _lanes(b) == 1:
            return Binary(e.op, a, b)
        rule = RAMP_ALGEBRA.get(e.op)
        fast = rule(e.op, a, b) if rule and tir.is_int(a.dtype) else None
        return fast or Binary(e.op, _widen(a, self.lanes), _widen(b, self.lanes))

    def e_Compare(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        if _lanes(a) == _lanes(b) == 1:
            return Compare(e.op, a, b)
        return Compare(e.op, _widen(a, self.lanes), _widen(b, self.lanes))

    def e_Select(self, e):
        c, t, f = self.expr(e.cond), self.expr(e.t), self.expr(e.f)
        if _lanes(t) == _lanes(f) == _lanes(c) == 1:
            return Select(c, t, f)
        return Select(c, _widen(t, self.lanes), _widen(f, self.lanes))  # scalar c: one select

    def e_Cast(self, e):
        x = self.expr(e.x)
        return Cast(tir.with_lanes(e.dtype, _lanes(x)), x)

    def e_Call(self, e):
        args = [self.expr(a) for a in e.args]
        if all(_lanes(a) == 1 for a in args):
            return Call(e.name, tuple(args), e.dtype)
        n = self.lanes
        return Call(e.name, tuple(_widen(a, n) for a in args), tir.with_lanes(e.dtype, n))

    def e_Load(self, e):
        index = self.expr(e.index)
        if _lanes(index) == 1:
            return Load(e.buffer, index, e.mask)
        return Load(e.buffer, index, self.mask)

    def e_Ramp(self, e):
        raise NotVectorizable("body already holds vector code")

    e_Broadcast = e_Ramp

    # ------------------------------------------------------------ statements
    def stmt(self, s):
        return getattr(self, "s_" + type(s).__name__)(s)

    def s_Store(self, s):
        index, value = self.expr(s.index), self.expr(s.value)
        if _lanes(index) == 1:
            raise NotVectorizable(f"store to {s.buffer.name} at a loop-invariant index")
        return Store(s.buffer, index, _widen(value, self.lanes), self.mask)

    def s_For(self, s):
        if self.var in tir.free_vars(s.min) + tir.free_vars(s.extent):
            raise NotVectorizable("inner loop bounds depend on the vectorized variable")
        return For(s.var, s.min, s.extent, s.kind, self.stmt(s.body))

    def s_Seq(self, s):
        return tir.Seq(tuple(self.stmt(c) for c in s.stmts))

    def s_LetStmt(self, s):
        value = self.expr(s.value)
        if _lanes(value) == 1:
            return tir.LetStmt(s.var, value, self.stmt(s.body))
        vec = Var(s.var.name, value.dtype)
        self.lets[s.var] = vec
        return tir.LetStmt(vec, value, self.stmt(s.body))

    def s_IfThenElse(self, s):
        cond = self.expr(s.cond)
        if _lanes(cond) == 1:
            other = self.stmt(s.else_case) if s.else_case is not None else None
            return tir.IfThenElse(cond, self.stmt(s.then_case), other)
        outer = self.mask
        branches = [(cond, s.then_case), (cond.eq(Broadcast(Const(False, "bool"), self.lanes)),
                                          s.else_case)]
        out = []
        for m, body in branches:
            if body is not None:
                self.mask = m if outer is None else Binary("and", outer, m)
                out.append(self.stmt(body))
        self.mask = outer
        return tir.seq(*out)

    def s_Allocate(self, s):
        raise NotVectorizable("allocation inside a vectorized loop")


def _widest_bits(body) -> int:
    sizes = [tir.bits(b.dtype) for b in tir.buffers_of(body)]
    return max(sizes, default=32)


def _chunk(loop: For, base: Expr, n: int, mask: Expr | None):
    if n == 1:
        return tir.substitute(loop.body, {loop.var: base})
    return _Vectorizer(loop.var, Ramp(base, Const(1, loop.var.dtype), n), mask).stmt(loop.body)


def _vectorize_loop(loop: For, vector_bits: int):
    lanes = max(1, vector_bits // _widest_bits(loop.body))
    ext, lo = loop.extent, loop.min
    c = Var(loop.var.name + ".c", loop.var.dtype)
    full = ext // lanes if not isinstance(ext, Const) else Const(ext.value // lanes)
    main_kind = tir.UNROLLED if isinstance(full, Const) and full.value <= 4 else tir.SERIAL
    main = For(c, 0, full, main_kind, _chunk(loop, lo + c * lanes, lanes, None))
    start = full * lanes
    if isinstance(ext, Const):
        tail = ext.value % lanes
        if tail == 0:
            return main
        if tail & (tail - 1) == 0:
            return tir.seq(main, _chunk(loop, lo + start, tail, None))
    iota = Ramp(start, 1, lanes)
    mask = Compare("lt", iota, Broadcast(ext, lanes))
    tail_stmt = _chunk(loop, lo + start, lanes, mask)
    if not isinstance(ext, Const):
        tail_stmt = tir.IfThenElse(start < ext, tail_stmt)
    return tir.seq(main, tail_stmt)


def vectorize(node, vector_bits: int):
    """Rewrite every `vectorized` loop of a PrimFunc/statement for `vector_bits`-wide SIMD."""
    if isinstance(node, tir.PrimFunc):
        return node.with_body(vectorize(node.body, vector_bits))

    def visit(s):
        if not (isinstance(s, For) and s.kind == tir.VECTORIZED):
            return None
        try:
            return simplify(_vectorize_loop(s, vector_bits))
        except NotVectorizable:
            return For(s.var, s.min, s.extent, tir.SERIAL, s.body)

    return tir.rewrite(node, visit)
