"""Elementwise and broadcast ops as tensor expressions: one scalar function per op, applied at
every output index with each input read at its broadcast position.

    out[i...] = f(a[bcast(i)], b[bcast(i)], ...; attrs)

Scalar functions are a table (op name -> fn(node, *values)), the TE image of
compiler/ops/elementwise.py. exp/erf/tanh/sigmoid are tir intrinsics, which the LLVM backend
emits as vector polynomials. Semantics follow the NumPy references: integer Div truncates
toward zero (tir "div" on integers), Mod with fmod=0 takes the divisor's sign (floormod;
floats: np.mod's IEEE special cases, from the exact fmod).
"""

from __future__ import annotations

import functools
import math

from .. import te, tir
from .common import bread, compute, te_shape


def _c(x, value):
    """A constant of x's dtype."""
    return tir.Const(value, tir.element(x.dtype))


def _relu(node, x):
    return te.max(x, _c(x, 0))


def _sign(node, x):
    return te.select(x > _c(x, 0), _c(x, 1), te.select(x < _c(x, 0), _c(x, -1), _c(x, 0)))


def _softplus(node, x):
    """log(1 + exp(x)) without overflow: max(x, 0) + log(1 + exp(-|x|))."""
    return te.max(x, _c(x, 0)) + te.log(_c(x, 1) + te.exp(-te.abs(x)))


def _hard_sigmoid(x, alpha, beta):
    return te.min(te.max(x * _c(x, alpha) + _c(x, beta), _c(x, 0)), _c(x, 1))


def _elu(x, alpha):
    return te.select(x >= _c(x, 0), x, _c(x, alpha) * (te.exp(te.min(x, _c(x, 0))) - _c(x, 1)))


def _gelu(node, x):
    half, one = _c(x, 0.5), _c(x, 1)
    if node.attrs["approximate"] == "tanh":
        inner = _c(x, math.sqrt(2 / math.pi)) * (x + _c(x, 0.044715) * x * x * x)
        return half * x * (one + te.tanh(inner))
    return half * x * (one + te.erf(x * _c(x, 1 / math.sqrt(2))))


def _is_inf(node, x):
    pos = x.eq(_c(x, math.inf)) if node.attrs["detect_positive"] else tir.Const(False, "bool")
    neg = x.eq(_c(x, -math.inf)) if node.attrs["detect_negative"] else tir.Const(False, "bool")
    return pos | neg


def _mod(node, a, b):
    if tir.is_float(a.dtype):
        r = te.fmod(a, b)  # exact, the dividend's sign (C); NaN for a zero b or an infinite a
        return r if node.attrs["fmod"] else _floor_mod(r, b)
    if not node.attrs["fmod"]:
        return a % b  # floormod: the divisor's sign, as Python
    return a - (a / b) * b  # C remainder: truncating division


def _floor_mod(r, b):
    """np.mod from the C remainder r = fmod(a, b): a nonzero r of the other sign than b moves
    by b (so an infinite b gives +-inf), a zero r takes b's sign, NaN stays NaN."""
    zero = _c(r, 0)
    opposite = ((r < zero) & (b > zero)) | ((r > zero) & (b < zero))
    signed_zero = te.abs(r) * te.select(b < zero, _c(r, -1), _c(r, 1))  # -1 * +0 is -0
    return te.select(opposite, r + b, te.select(r.eq(zero), signed_zero, r))


def _pow(node, base, exponent):
    """In double as ORT, cast back (integer results truncate)."""
    wide = "float64" if tir.bits(base.dtype) == 64 or not tir.is_float(base.dtype) else "float32"
    out = te.pow(te.cast(wide, base), te.cast(wide, exponent))
    return te.cast(base.dtype, out)


def _cast(node, x):
    to = node.attrs["to"]
    if to == "bool":
        return x.ne(_c(x, 0)) if x.dtype != "bool" else x
    return te.cast(to, x)


def _clip(node, x):
    return te.min(te.max(x, _c(x, node.attrs["min"])), _c(x, node.attrs["max"]))


def _variadic(op):
    return lambda node, *xs: functools.reduce(op, xs)


SCALAR = {
    "Identity": lambda node, x: x,
    "Relu": _relu,
    "Neg": lambda node, x: -x,
    "Abs": lambda node, x: te.abs(x),
    "Sign": _sign,
    "Sqrt": lambda node, x: te.sqrt(x),
    "Exp": lambda node, x: te.exp(x),
    "Log": lambda node, x: te.log(x),
    "Tanh": lambda node, x: te.tanh(x),
    "Sin": lambda node, x: te.sin(x),
    "Cos": lambda node, x: te.cos(x),
    "Erf": lambda node, x: te.erf(x),
    "Sigmoid": lambda node, x: te.sigmoid(x),
    "Reciprocal": lambda node, x: _c(x, 1) / x,
    "Floor": lambda node, x: te.floor(x),
    "Ceil": lambda node, x: te.ceil(x),
    "Round": lambda node, x: te.round(x),
    "Softsign": lambda node, x: x / (_c(x, 1) + te.abs(x)),
    "Softplus": _softplus,
    "HardSwish": lambda node, x: x * _hard_sigmoid(x, 1 / 6, 0.5),
    "HardSigmoid": lambda node, x: _hard_sigmoid(x, node.attrs["alpha"], node.attrs["beta"]),
    "LeakyRelu": lambda node, x: te.select(x >= _c(x, 0), x, x * _c(x, node.attrs["alpha"])),
    "ThresholdedRelu": lambda node, x: te.select(x > _c(x, node.attrs["alpha"]), x, _c(x, 0)),
    "Elu": lambda node, x: _elu(x, node.attrs["alpha"]),
    "Selu": lambda node, x: _c(x, node.attrs["gamma"]) * _elu(x, node.attrs["alpha"]),
    "Gelu": _gelu,
    "Not": lambda node, x: x.eq(tir.Const(False, "bool")),
    "IsNaN": lambda node, x: x.ne(x),
    "IsInf": _is_inf,
    "Add": lambda node, a, b: a + b,
    "Sub": lambda node, a, b: a - b,
    "Mul": lambda node, a, b: a * b,
    "Div": lambda node, a, b: a / b,
    "Mod": _mod,
    "PRelu": lambda node, x, slope: te.select(x < _c(x, 0), x * slope, x),
    "Equal": lambda node, a, b: a.eq(b),
    "Less": lambda node, a, b: a < b,
    "Greater": lambda node, a, b: a > b,
    "LessOrEqual": lambda node, a, b: a <= b,
    "GreaterOrEqual": lambda node, a, b: a >= b,
    "And": lambda node, a, b: a & b,
    "Or": lambda node, a, b: a | b,
    "Xor": lambda node, a, b: a.ne(b),
    "Max": _variadic(te.max),
    "Min": _variadic(te.min),
    "Sum": _variadic(lambda a, b: a + b),
    "Mean": lambda node, *xs: functools.reduce(lambda a, b: a + b, xs) / _c(xs[0], len(xs)),
    "Pow": _pow,
    "Where": lambda node, c, x, y: te.select(c, x, y),
    "Clip": _clip,
    "Cast": _cast,
}


def elementwise(node, inputs):
    """out[i...] = SCALAR[op](node, each input at its broadcast position of i)."""
    fn = SCALAR[node.op]
    out = node.outputs[0]

    def body(*i):
        return fn(node, *(bread(t, i) for t in inputs))

    return compute(out.shape, body, out.name, attrs=_row_attrs(inputs, te_shape(out.shape)))


def _row_attrs(inputs, shape) -> dict:
    """A row stage's attrs (topi.reduce.rows_attrs) when an input of the output's shape is
    one: an elementwise op of a row stage (softmax's float16 Cast, an epilogue) is one too,
    so the generic schedule keeps the row statistics in the output's row loop."""
    return next(({"rows": t.op.attrs["rows"]} for t in inputs
                 if "rows" in t.op.attrs and t.shape == shape), {})


COMPUTE = {op: elementwise for op in SCALAR}
