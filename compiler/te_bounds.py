"""Interval analysis of index expressions, for bound inference (TVM's InferBound, simplified).

An integer expression is read as a linear form {atom: coefficient} + constant, where atoms
are Vars or non-linear subexpressions. `interval(e, ranges)` gives the (lo, hi) linear forms
of `e` when the Vars in `ranges` sweep their inclusive (lo, hi) ranges and every other Var
stays fixed; hi - lo is then often a constant even when both ends are symbolic:
    io*6 + ii  with ii in [0, 5]   ->   lo = io*6, hi = io*6 + 5, extent 6.
"""

from __future__ import annotations

from . import tir
from .tir import Binary, Const, Expr, Var
from .tir_simplify import simplify_expr

ONE = "1"  # key of the constant term


def linear(e: Expr) -> dict:
    if isinstance(e, Const) and tir.is_int(e.dtype):
        return {ONE: e.value}
    if isinstance(e, Binary) and e.op in ("add", "sub"):
        return add(linear(e.a), linear(e.b), -1 if e.op == "sub" else 1)
    if isinstance(e, Binary) and e.op == "mul":
        for x, y in ((e.a, e.b), (e.b, e.a)):
            if isinstance(y, Const):
                return scale(linear(x), y.value)
    return {e: 1}


def add(a: dict, b: dict, sign: int = 1) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
        if out[k] == 0 and k != ONE:
            del out[k]
    return out


def scale(a: dict, c: int) -> dict:
    return {} if c == 0 else {k: v * c for k, v in a.items()}


def constant(a: dict):
    """The value of a constant form, else None."""
    return a.get(ONE, 0) if all(k == ONE for k in a) else None


def to_expr(a: dict) -> Expr:
    out = None
    for k, v in a.items():
        if k == ONE:
            continue
        term = k if v == 1 else k * v
        out = term if out is None else out + term
    c = a.get(ONE, 0)
    if out is None:
        return Const(c)
    return out + c if c else out


def _simplified(e: Expr) -> dict:
    return linear(simplify_expr(e))


def _pick(a: dict, b: dict, op: str) -> dict:
    """min/max of two forms: exact when they differ by a constant, else a min/max atom."""
    d = constant(add(a, b, -1))
    if d is not None:
        return a if (d <= 0) == (op == "min") else b
    return linear(Binary(op, to_expr(a), to_expr(b)))


def interval(e: Expr, ranges: dict):
    """(lo, hi) linear forms of integer expression `e`, or None when unknown."""
    if not any(v in ranges for v in tir.free_vars(e)):
        f = linear(e)
        return f, f
    if isinstance(e, Var):
        lo, hi = ranges[e]
        return linear(lo), linear(hi)
    if isinstance(e, Binary):
        a = interval(e.a, ranges)
        b = interval(e.b, ranges) if not isinstance(e.b, Const) else (linear(e.b),) * 2
        if a is None or b is None:
            return None
        if e.op == "add":
            return add(a[0], b[0]), add(a[1], b[1])
        if e.op == "sub":
            return add(a[0], b[1], -1), add(a[1], b[0], -1)
        if e.op == "mul":
            c = constant(b[0]) if constant(b[0]) == constant(b[1]) else None
            if c is None and constant(a[0]) is not None and constant(a[0]) == constant(a[1]):
                a, b, c = b, a, constant(a[0])
            if c is None:
                return None
            return (scale(a[0], c), scale(a[1], c)) if c >= 0 else (scale(a[1], c), scale(a[0], c))
        c = constant(b[0]) if b[0] == b[1] else None
        if e.op == "floordiv" and c and c > 0:
            return (_simplified(Binary("floordiv", to_expr(a[0]), Const(c))),
                    _simplified(Binary("floordiv", to_expr(a[1]), Const(c))))
        if e.op == "floormod" and c and c > 0:
            lo = _simplified(Binary("floormod", to_expr(a[0]), Const(c)))
            hi = _simplified(Binary("floormod", to_expr(a[1]), Const(c)))
            span = constant(add(a[1], a[0], -1))
            if constant(lo) is not None and constant(hi) is not None and span is not None \
                    and constant(hi) - constant(lo) == span:
                return lo, hi
            return {ONE: 0}, {ONE: c - 1}
        if e.op in ("min", "max"):
            return _pick(a[0], b[0], e.op), _pick(a[1], b[1], e.op)
    return None


def union(x, y):
    if x is None or y is None:
        return None
    return _pick(x[0], y[0], "min"), _pick(x[1], y[1], "max")
