"""Tensor expressions (TVM's `te`): what each output element is, apart from how loops compute it.

    A = te.placeholder((M, K), "float32", name="A")
    B = te.placeholder((K, N), "float32", name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    D = te.compute((M, N), lambda i, j: te.max(C[i, j], 0.0), name="D")
    s = te.create_schedule([D])               # see schedule.py
    func = te.lower(s, [A, B, D], name="f")   # -> tir.PrimFunc (see te_lower.py)

Expressions are the loop IR's own nodes (Var, Const, Binary, Compare, Select, Cast, Call) plus
three TE-only nodes: `TensorRead` (A[i, k]), `Reduce` (a sum/prod/max/min over reduce axes;
only as the whole body of a compute) and `IfThenElse` (a select whose untaken side is never
read, for padding). Axes are `IterVar`s, Vars that also know their range and kind (data or
reduce).

Names: `te.max(a, b)` / `te.min(a, b)` are elementwise (2 args); reductions are
`te.sum(x, axis)`, `te.prod(x, axis)`, `te.max_reduce(x, axis)`, `te.min_reduce(x, axis)`
(axis: one reduce_axis or a list; optional `init=` replaces the combiner's identity; a float
max / min reduction skips NaN, see `combine`, while te.max / te.min propagate it).
`te.cast(dtype, x)` takes the dtype first, as tir.cast does. Shapes are static ints; a
0 makes an empty tensor, and a reduction over an empty axis is its init (no Reduce node).
"""

from __future__ import annotations

import builtins
import inspect
import math
from dataclasses import dataclass

from . import tir, tir_printer
from .errors import TensorForgeError
from .tir import Expr, Var


class TEError(TensorForgeError):
    """A malformed tensor expression or an illegal schedule; the message says which and why."""


# ---------------------------------------------------------------- nodes

DATA, REDUCE = "data", "reduce"


@dataclass(frozen=True, eq=False, repr=False)
class IterVar(Var):
    """An axis: a loop variable with its range [dom[0], dom[0] + dom[1]) and kind."""

    dom: tuple = (0, 1)
    kind: str = DATA

    @property
    def extent(self) -> int:
        return self.dom[1]

    def __repr__(self) -> str:
        return f"IterVar({self.name!r}, dom={self.dom}, {self.kind})"


@dataclass(frozen=True)
class TensorRead(Expr):
    """tensor[indices]: one element of a placeholder or compute output."""

    tensor: "Tensor"
    indices: tuple

    @property
    def dtype(self) -> str:
        return self.tensor.dtype


REDUCERS = {"sum": "add", "prod": "mul", "max": "max", "min": "min"}  # combiner -> tir op


def combine(combiner: str, acc: Expr, value: Expr) -> Expr:
    """A reduction's update of `acc` by `value`. A float max / min keeps acc unless value is
    larger / smaller, so a NaN value is skipped (ONNX Runtime's scans skip every NaN but a
    first one, which topi puts back): one maxps / minps per vector, and an accumulator never
    holds NaN, so partial accumulators combine in any order."""
    if combiner in ("max", "min") and tir.is_float(value.dtype):
        return tir.select(value > acc if combiner == "max" else value < acc, value, acc)
    return tir.Binary(REDUCERS[combiner], acc, value)


@dataclass(frozen=True)
class Reduce(Expr):
    """combiner(source over `axis`), starting from `init` (None: the combiner's identity)."""

    combiner: str
    source: Expr
    axis: tuple
    init: Expr | None = None

    @property
    def dtype(self) -> str:
        return self.source.dtype


@dataclass(frozen=True)
class IfThenElse(Expr):
    """cond ? t : f where only the taken side's tensor reads happen (padding reads)."""

    cond: Expr
    t: Expr
    f: Expr

    @property
    def dtype(self) -> str:
        return self.t.dtype


def _fmt(e):
    return tir_printer.format_expr(e)


def _fmt_reduce(e: Reduce) -> str:
    init = "" if e.init is None else f", init={_fmt(e.init)}"
    return f"{e.combiner}({tir_printer.format_top(e.source)}, axis=[{', '.join(a.name for a in e.axis)}]{init})"


tir_printer.EXPR[IterVar] = lambda e: e.name
tir_printer.EXPR[TensorRead] = lambda e: f"{e.tensor.name}[{', '.join(map(tir_printer.format_top, e.indices))}]"
tir_printer.EXPR[Reduce] = _fmt_reduce
tir_printer.EXPR[IfThenElse] = lambda e: f"if_then_else({_fmt(e.cond)}, {_fmt(e.t)}, {_fmt(e.f)})"


# ---------------------------------------------------------------- tensors and ops


class PlaceholderOp:
    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype
        self.axis, self.reduce_axis, self.body, self.tag, self.attrs = (), (), None, "", {}

    def input_tensors(self) -> list:
        return []


class ComputeOp:
    """output[axis] = body; body may be a Reduce over `reduce_axis`."""

    def __init__(self, name, axis, body, tag="", attrs=None):
        self.name, self.axis, self.body = name, tuple(axis), body
        self.reduce_axis = body.axis if isinstance(body, Reduce) else ()
        self.shape = tuple(a.extent for a in self.axis)
        self.dtype, self.tag, self.attrs = body.dtype, tag, dict(attrs or {})

    def input_tensors(self) -> list:
        """Tensors read by the body, in first-read order."""
        seen = {}
        for n in tir.walk(self.body):
            if isinstance(n, TensorRead):
                seen.setdefault(n.tensor, None)
        return list(seen)


class Tensor:
    """The output of an op. Indexing builds a TensorRead; compares by identity."""

    def __init__(self, op):
        self.op = op

    name = property(lambda self: self.op.name)
    shape = property(lambda self: self.op.shape)
    dtype = property(lambda self: self.op.dtype)
    ndim = property(lambda self: len(self.op.shape))
    axis = property(lambda self: self.op.axis)
    reduce_axis = property(lambda self: self.op.reduce_axis)

    def __getitem__(self, indices) -> TensorRead:
        indices = indices if isinstance(indices, tuple) else (indices,)
        if len(indices) != self.ndim:
            raise TEError(f"{self.name} has {self.ndim} dimension(s) {list(self.shape)}, "
                          f"indexed with {len(indices)}")
        idx = tuple(tir.as_expr(i) for i in indices)
        bad = [i for i in idx if not tir.is_int(i.dtype)]
        if bad:
            raise TEError(f"{self.name}: indices must be integers, got {[i.dtype for i in bad]}")
        return TensorRead(self, idx)

    def __repr__(self) -> str:
        return f"Tensor({self.name}, {list(self.shape)}, {self.dtype})"


def _shape(shape) -> tuple:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    for d in shape:
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise TEError(f"shape {shape}: dimensions must be non-negative ints (static "
                          "shapes; 0 makes an empty tensor)")
    return shape


def placeholder(shape, dtype: str = "float32", name: str = "placeholder") -> Tensor:
    return Tensor(PlaceholderOp(name, _shape(shape), dtype))


def reduce_axis(dom, name: str = "k") -> IterVar:
    """A reduction axis over range(lo, hi) given as (lo, hi), or range(n) given as n; an empty
    range is legal (a reduction over it is its init: see `_reduce`)."""
    lo, hi = (0, dom) if isinstance(dom, int) else dom
    if hi < lo:
        raise TEError(f"reduce_axis {name}: reversed range ({lo}, {hi})")
    return IterVar(name, tir.INDEX, (lo, hi - lo), REDUCE)


def _arg_names(fcompute, n: int) -> list:
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):
        params = []
    if len(params) == n and builtins.all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                for p in params):
        return [p.name for p in params]
    return [f"i{d}" for d in range(n)]


def compute(shape, fcompute, name: str = "compute", tag: str = "", attrs=None) -> Tensor:
    """output[i, j, ...] = fcompute(i, j, ...). The body is an expression, or one Reduce."""
    shape = _shape(shape)
    axis = tuple(IterVar(n, tir.INDEX, (0, d), DATA)
                 for n, d in zip(_arg_names(fcompute, len(shape)), shape))
    body = fcompute(*axis)
    if isinstance(body, (int, float, bool)):
        body = tir.as_expr(body)
    if not isinstance(body, Expr):
        raise TEError(f"compute {name}: body must be an expression, got {type(body).__name__}")
    nested = [n for n in tir.walk(body) if isinstance(n, Reduce) and n is not body]
    if nested:
        raise TEError(f"compute {name}: a reduction ({nested[0].combiner}) must be the whole "
                      "body; compute it as its own tensor and combine in a second compute")
    op = ComputeOp(name, axis, body, tag, attrs)
    allowed = set(axis) | set(op.reduce_axis)
    stray = [v for v in tir.free_vars(body) if v not in allowed]
    if stray:
        names = ", ".join(v.name for v in stray)
        hint = (" (a reduce_axis used outside a te reduction's axis=)"
                if builtins.any(isinstance(v, IterVar) and v.kind == REDUCE for v in stray) else "")
        raise TEError(f"compute {name}: uses variable(s) {names} that are not its axes{hint}")
    return Tensor(op)


# ---------------------------------------------------------------- reductions


def _reduce(combiner, source, axis, init):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if not axis or not builtins.all(isinstance(a, IterVar) and a.kind == REDUCE for a in axis):
        raise TEError(f"te.{combiner}: axis must be te.reduce_axis(...) values, got {axis}")
    source = tir.as_expr(source)
    if init is not None:
        init = tir.as_expr(init, source)
        if builtins.any(isinstance(n, (TensorRead, Var)) for n in tir.walk(init)):
            raise TEError(f"te.{combiner}: init must be a constant expression")
    if builtins.any(a.extent == 0 for a in axis):  # an empty set: nothing is read
        return identity(combiner, source.dtype) if init is None else init
    return Reduce(combiner, source, axis, init)


def sum(expr, axis, init=None) -> Reduce:  # noqa: A001 - TVM's name
    """Sum of `expr` over the reduce axis (or list of axes) `axis`."""
    return _reduce("sum", expr, axis, init)


def prod(expr, axis, init=None) -> Reduce:
    """Product of `expr` over the reduce axis (or list of axes) `axis`."""
    return _reduce("prod", expr, axis, init)


def max_reduce(expr, axis, init=None) -> Reduce:
    return _reduce("max", expr, axis, init)


def min_reduce(expr, axis, init=None) -> Reduce:
    return _reduce("min", expr, axis, init)


def identity(combiner: str, dtype: str) -> tir.Const:
    """The neutral element: 0 for sum, 1 for prod, -inf / +inf (or the int range ends) for
    max / min."""
    if combiner in ("sum", "prod"):
        return tir.Const(1 if combiner == "prod" else 0, dtype)
    if tir.is_float(dtype):
        return tir.Const(-math.inf if combiner == "max" else math.inf, dtype)
    if dtype == "bool":
        return tir.Const(combiner == "min", dtype)
    n = tir.bits(dtype)
    lo, hi = (0, 2 ** n - 1) if dtype.startswith("uint") else (-2 ** (n - 1), 2 ** (n - 1) - 1)
    return tir.Const(lo if combiner == "max" else hi, dtype)


# ---------------------------------------------------------------- elementwise helpers

def const(value, dtype: str = "float32") -> tir.Const:
    return tir.Const(value, dtype)


def max(a, b) -> Expr:  # noqa: A001 - elementwise maximum of two values
    return tir.max_(a, b)


def min(a, b) -> Expr:  # noqa: A001
    return tir.min_(a, b)


def select(cond, t, f) -> Expr:
    """cond ? t : f with both sides read (use if_then_else when a side may read out of bounds)."""
    return tir.select(cond, t, f)


def if_then_else(cond, t, f) -> Expr:
    """cond ? t : f where tensor reads in the untaken side never touch memory (padding)."""
    t = tir.as_expr(t, f if isinstance(f, Expr) else None)
    return IfThenElse(cond, t, tir.as_expr(f, t))


def cast(dtype: str, x) -> Expr:
    return tir.cast(dtype, x)


def all(*conds) -> Expr:  # noqa: A001
    out = conds[0]
    for c in conds[1:]:
        out = out & c
    return out


def any(*conds) -> Expr:  # noqa: A001
    out = conds[0]
    for c in conds[1:]:
        out = out | c
    return out


def _intrinsic(name):
    def fn(*args):
        return tir.call(name, *args)
    fn.__name__, fn.__doc__ = name, f"Elementwise {name} (a tir intrinsic)."
    return fn


exp, exp2, log, log2, sqrt, rsqrt = map(_intrinsic, ("exp", "exp2", "log", "log2", "sqrt", "rsqrt"))
floor, ceil, round, trunc = map(_intrinsic, ("floor", "ceil", "round", "trunc"))  # noqa: A001
sin, cos, tanh, erf, sigmoid, pow, fmod, fma = map(  # noqa: A001
    _intrinsic, ("sin", "cos", "tanh", "erf", "sigmoid", "pow", "fmod", "fma"))


def abs(x) -> Expr:  # noqa: A001
    x = tir.as_expr(x)
    return tir.call("fabs", x) if tir.is_float(x.dtype) else tir.select(x < 0, -x, x)


# the schedule and lowering layers, under the same namespace as in TVM
from .schedule import Schedule, Stage, create_schedule  # noqa: E402
from .te_lower import lower  # noqa: E402

__all__ = ["placeholder", "compute", "reduce_axis", "sum", "prod", "max_reduce", "min_reduce",
           "max", "min", "select", "if_then_else", "cast", "const", "all", "any", "abs", "exp",
           "exp2", "log", "log2", "sqrt", "rsqrt", "floor", "ceil", "round", "trunc", "sin", "cos",
           "tanh", "erf", "sigmoid", "pow", "fmod", "fma", "Tensor", "IterVar", "TensorRead",
           "Reduce", "IfThenElse", "TEError", "create_schedule", "Schedule", "Stage", "lower",
           "identity"]


def find_tagged(outs, tag: str) -> "Tensor | None":
    """The tensor whose op carries `tag`, reached from `outs` through op inputs (templates find
    their anchor stage this way); None when there is none."""
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
