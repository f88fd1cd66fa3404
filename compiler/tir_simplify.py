"""Arithmetic simplifier for the loop IR: a table of local rewrites applied bottom-up.

Each rule is `fn(node, ranges) -> node | None`; `ranges` maps loop variables to their
inclusive integer bounds, so index arithmetic like `(i*8 + j) // 8` with j in [0, 7]
folds to `i`. Integer identities only where they are exact; float rules are limited to
constant folding and `x * 1.0` (no reassociation: that is the backend's fast-math choice).
"""

from __future__ import annotations

import operator

import numpy as np

from . import tir
from .tir import Binary, Broadcast, Cast, Compare, Const, Expr, Ramp, Select, Var


def _trunc_div(a, b):
    return a / b if isinstance(a, float) else int(a / b) if b else 0


FOLD = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": _trunc_div,
        "floordiv": lambda a, b: a // b if b else 0, "floormod": lambda a, b: a % b if b else 0,
        "min": min, "max": max, "and": lambda a, b: a and b, "or": lambda a, b: a or b,
        "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
        "eq": operator.eq, "ne": operator.ne}


def _c(e, value=None) -> bool:
    """Is `e` a constant (equal to `value` when given)?"""
    return isinstance(e, Const) and (value is None or e.value == value)


def _int(e) -> bool:
    return tir.is_int(e.dtype) and tir.lanes(e.dtype) == 1


# ---------------------------------------------------------------- integer bounds


def bounds(e: Expr, ranges: dict):
    """Inclusive (lo, hi) of a scalar integer expression, or None when unknown."""
    if isinstance(e, Const) and _int(e):
        return e.value, e.value
    if isinstance(e, Var):
        return ranges.get(e)
    if isinstance(e, Binary) and _int(e):
        a, b = bounds(e.a, ranges), bounds(e.b, ranges)
        if a is None or b is None:
            return None
        if e.op in ("add", "sub", "mul", "min", "max"):
            f = FOLD[e.op]
            ends = [f(x, y) for x in a for y in b]
            return (min(ends), max(ends)) if e.op != "sub" else (a[0] - b[1], a[1] - b[0])
        if e.op == "floordiv" and b[0] == b[1] and b[0] > 0:
            return a[0] // b[0], a[1] // b[0]
        if e.op == "floormod" and b[0] == b[1] and b[0] > 0:
            return (a[0] % b[0], a[1] % b[0]) if a[0] // b[0] == a[1] // b[0] else (0, b[0] - 1)
    return None


# ---------------------------------------------------------------- rules


def _rounded(value, dtype: str):
    """`value` as a `dtype` holds it: a float narrowed to float16/float32 rounds (to nearest
    even, as the Cast it folds would)."""
    if tir.is_float(dtype) and isinstance(value, float):
        with np.errstate(over="ignore"):
            return float(np.float64(value).astype(tir.element(dtype)))
    return value


def fold_constants(e, ranges):
    if isinstance(e, (Binary, Compare)) and _c(e.a) and _c(e.b):
        if e.op in ("div", "floordiv", "floormod") and e.b.value == 0:
            return None
        return Const(FOLD[e.op](e.a.value, e.b.value), e.dtype)
    if isinstance(e, Cast) and _c(e.x):
        return Const(_rounded(e.x.value, e.dtype), e.dtype)
    return None


def canonical_order(e, ranges):
    """Constants go right in commutative ops: `2 + x` -> `x + 2`."""
    if isinstance(e, Binary) and e.op in tir.COMMUTATIVE_OPS and _c(e.a) and not _c(e.b):
        return Binary(e.op, e.b, e.a)
    return None


def identities(e, ranges):
    op, a, b = e.op, e.a, e.b
    if op in ("add", "sub") and _c(b, 0) and _int(e):
        return a
    if op in ("mul", "div", "floordiv") and _c(b, 1):
        return a
    if op == "mul" and _c(b, 0) and _int(e):
        return b
    if op == "floormod" and _c(b, 1):
        return Const(0, e.dtype)
    if op == "sub" and a == b and _int(e):
        return Const(0, e.dtype)
    if op in ("min", "max") and a == b:
        return a
    return None


def reassociate_constants(e, ranges):
    """(x + c1) + c2 -> x + (c1 + c2); (x * c1) * c2 -> x * (c1 * c2); (x + c1) - c2."""
    if not (_int(e) and _c(e.b) and isinstance(e.a, Binary) and _c(e.a.b)):
        return None
    inner, c1, c2 = e.a, e.a.b.value, e.b.value
    combos = {("add", "add"): c1 + c2, ("add", "sub"): c1 - c2, ("mul", "mul"): c1 * c2}
    if (inner.op, e.op) in combos:
        return Binary(inner.op, inner.a, Const(combos[inner.op, e.op], e.dtype))
    return None


def _split_multiple(e, c: int):
    """Write e as (q * c + r) with q, r expressions, when e's terms are visibly multiples."""
    if isinstance(e, Binary) and e.op == "mul" and _c(e.b) and e.b.value % c == 0:
        return Binary("mul", e.a, Const(e.b.value // c, e.dtype)), Const(0, e.dtype)
    if isinstance(e, Const):
        return Const(e.value // c, e.dtype), Const(e.value % c, e.dtype)
    if isinstance(e, Binary) and e.op == "add":
        for x, y in ((e.a, e.b), (e.b, e.a)):
            split = _split_multiple(x, c)
            if split is not None:
                return split[0], simplify_expr(split[1] + y)
    return None


def div_mod_by_range(e, ranges):
    """x // c -> 0 and x % c -> x when 0 <= x < c; (q*c + r) // c -> q + r // c."""
    if e.op not in ("floordiv", "floormod") or not (_int(e) and _c(e.b)) or e.b.value <= 0:
        return None
    c = e.b.value
    rng = bounds(e.a, ranges)
    if rng is not None and 0 <= rng[0] and rng[1] < c:
        return Const(0, e.dtype) if e.op == "floordiv" else e.a
    split = _split_multiple(e.a, c)
    if split is None or _c(split[0], 0):
        return None
    q, r = split
    if e.op == "floordiv":
        return simplify_expr(q + Binary("floordiv", r, e.b), ranges)
    return simplify_expr(Binary("floormod", r, e.b), ranges)


def min_max_by_range(e, ranges):
    if e.op not in ("min", "max") or not _int(e):
        return None
    a, b = bounds(e.a, ranges), bounds(e.b, ranges)
    if a is None or b is None:
        return None
    if a[1] <= b[0]:
        return e.a if e.op == "min" else e.b
    if b[1] <= a[0]:
        return e.b if e.op == "min" else e.a
    return None


def compare_by_range(e, ranges):
    a, b = bounds(e.a, ranges), bounds(e.b, ranges)
    if a is None or b is None:
        return None
    lo, hi = a[0] - b[1], a[1] - b[0]  # range of a - b
    truth = {"lt": (hi < 0, lo >= 0), "le": (hi <= 0, lo > 0), "gt": (lo > 0, hi <= 0),
             "ge": (lo >= 0, hi < 0), "eq": (lo == hi == 0, lo > 0 or hi < 0),
             "ne": (lo > 0 or hi < 0, lo == hi == 0)}[e.op]
    return Const(True, "bool") if truth[0] else Const(False, "bool") if truth[1] else None


def select_constant(e, ranges):
    if _c(e.cond):
        return e.t if e.cond.value else e.f
    return e.t if e.t == e.f else None


def vector_of_scalars(e, ranges):
    """Broadcast(x) op Broadcast(y) -> Broadcast(x op y); Ramp with zero stride -> Broadcast."""
    if isinstance(e, Ramp):
        return Broadcast(e.base, e.lanes) if _c(e.stride, 0) else None
    if isinstance(e.a, Broadcast) and isinstance(e.b, Broadcast):
        return Broadcast(type(e)(e.op, e.a.value, e.b.value), e.a.lanes)
    return None


RULES = {
    Binary: [fold_constants, canonical_order, identities, reassociate_constants,
             div_mod_by_range, min_max_by_range, vector_of_scalars],
    Compare: [fold_constants, compare_by_range, vector_of_scalars],
    Cast: [fold_constants],
    Select: [select_constant],
    Ramp: [vector_of_scalars],
}


def simplify_expr(e: Expr, ranges: dict | None = None) -> Expr:
    """Apply RULES bottom-up until no rule fires."""
    ranges = ranges or {}

    def step(node):
        for rule in RULES.get(type(node), ()):
            out = rule(node, ranges)
            if out is not None and out != node:
                return simplify_expr(out, ranges)
        return None

    return tir.rewrite(e, step)


# ---------------------------------------------------------------- statements


def simplify(node, ranges: dict | None = None):
    """Simplify a PrimFunc, statement or expression; loops with constant bounds feed `ranges`,
    empty loops vanish, one-trip loops and constant-condition ifs are flattened."""
    ranges = dict(ranges or {})
    if isinstance(node, tir.PrimFunc):
        return node.with_body(simplify(node.body, ranges))
    if isinstance(node, Expr):
        return simplify_expr(node, ranges)
    return STMT_RULES.get(type(node), _simplify_children)(node, ranges)


def _simplify_children(s, ranges):
    return tir.map_children(s, lambda c: simplify(c, ranges))


def _for(s: tir.For, ranges):
    lo, ext = simplify_expr(s.min, ranges), simplify_expr(s.extent, ranges)
    if _c(ext) and ext.value <= 0:
        return tir.Seq(())
    if _c(ext, 1) and s.kind not in tir.GPU_LOOP_KINDS:  # threadIdx.x(0, 1) = thread 0 only
        return simplify(tir.substitute(s.body, {s.var: lo}), ranges)
    lo_b, ext_b = bounds(lo, ranges), bounds(ext, ranges)
    inner = dict(ranges)
    if lo_b and ext_b:
        inner[s.var] = (lo_b[0], lo_b[1] + ext_b[1] - 1)
    return tir.For(s.var, lo, ext, s.kind, simplify(s.body, inner))


def _if(s: tir.IfThenElse, ranges):
    cond = simplify_expr(s.cond, ranges)
    if _c(cond):
        taken = s.then_case if cond.value else s.else_case
        return simplify(taken, ranges) if taken is not None else tir.Seq(())
    other = simplify(s.else_case, ranges) if s.else_case is not None else None
    return tir.IfThenElse(cond, simplify(s.then_case, ranges), other)


def _seq(s: tir.Seq, ranges):
    return tir.seq(*(simplify(c, ranges) for c in s.stmts))


def _let(s: tir.LetStmt, ranges):
    value = simplify_expr(s.value, ranges)
    if isinstance(value, (Const, Var)):
        return simplify(tir.substitute(s.body, {s.var: value}), ranges)
    inner = dict(ranges)
    rng = bounds(value, ranges)
    if rng:
        inner[s.var] = rng
    return tir.LetStmt(s.var, value, simplify(s.body, inner))


STMT_RULES = {tir.For: _for, tir.IfThenElse: _if, tir.Seq: _seq, tir.LetStmt: _let}

__all__ = ["simplify", "simplify_expr", "bounds", "RULES"]
