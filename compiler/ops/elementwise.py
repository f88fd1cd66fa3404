"""Elementwise and broadcast ops: unary math, activations, binary arithmetic, comparisons,
logic, Where, variadic Max/Min/Sum/Mean, Clip and Cast.

Families are tables (op name -> NumPy function, accepted dtypes, result dtype) registered in a
loop, so an op is one line. References follow ONNX Runtime on CPU exactly where it differs from
NumPy: integer Div truncates toward zero, integer Pow goes through double and truncates.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import numpy as np

from ..errors import ShapeError
from .registry import (FLOAT_TYPES, NUMERIC_TYPES, Pattern, TensorType,
                       broadcast_shapes, register, require_dtype)

FLOAT = frozenset(FLOAT_TYPES)
SIGNED = FLOAT | {"int8", "int16", "int32", "int64"}
NUMERIC = frozenset(NUMERIC_TYPES)
BOOL = frozenset({"bool"})
ANY = NUMERIC | BOOL


class Elementwise(NamedTuple):
    """One table row: `fn(*arrays, **attrs)`, the dtypes its inputs accept, the result dtype
    (None: the inputs'), and `check(*types, **attrs)` raising ShapeError for what the common
    rules (one dtype, broadcasting shapes) do not cover."""

    fn: Callable
    dtypes: frozenset
    out: str | None = None
    check: Callable | None = None


# -- NumPy references that need more than one ufunc -------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    return np.asarray(_erf(x.astype(np.float64)), np.float64)


def sigmoid(x):
    return np.exp(-np.logaddexp(0, -x.astype(np.float64)))


def hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x.astype(np.float64) + beta, 0, 1)


def gelu(x, approximate):
    x = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def elu(x, alpha):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


GELU_MODES = ("none", "tanh")


def check_gelu(x: TensorType, approximate: str) -> None:
    if approximate not in GELU_MODES:
        raise ShapeError(f"Gelu approximate={approximate!r}; expected one of {list(GELU_MODES)}")


def check_prelu(x: TensorType, slope: TensorType) -> None:
    """ONNX broadcasts the slope to the input, never the other way."""
    if broadcast_shapes(x.shape, slope.shape) != tuple(x.shape):
        raise ShapeError(f"PRelu slope shape {list(slope.shape)} does not broadcast to the "
                         f"input shape {list(x.shape)}")


UNARY: dict[str, Elementwise] = {
    "Identity": Elementwise(lambda x: x, ANY),
    "Relu": Elementwise(lambda x: np.maximum(x, 0), SIGNED),
    "Neg": Elementwise(np.negative, SIGNED),
    "Abs": Elementwise(np.abs, NUMERIC),
    "Sign": Elementwise(np.sign, NUMERIC),
    "Sqrt": Elementwise(np.sqrt, FLOAT),
    "Exp": Elementwise(np.exp, FLOAT),
    "Log": Elementwise(np.log, FLOAT),
    "Tanh": Elementwise(np.tanh, FLOAT),
    "Sin": Elementwise(np.sin, FLOAT),
    "Cos": Elementwise(np.cos, FLOAT),
    "Erf": Elementwise(erf, FLOAT),
    "Sigmoid": Elementwise(sigmoid, FLOAT),
    "Reciprocal": Elementwise(np.reciprocal, FLOAT),
    "Floor": Elementwise(np.floor, FLOAT),
    "Ceil": Elementwise(np.ceil, FLOAT),
    "Round": Elementwise(np.round, FLOAT),  # halves to even, as ORT
    "Softsign": Elementwise(lambda x: x / (1 + np.abs(x)), FLOAT),
    "Softplus": Elementwise(lambda x: np.logaddexp(0, x.astype(np.float64)), FLOAT),
    "HardSwish": Elementwise(lambda x: x * hard_sigmoid(x, 1 / 6, 0.5), FLOAT),
    "HardSigmoid": Elementwise(hard_sigmoid, FLOAT),
    "LeakyRelu": Elementwise(lambda x, alpha: np.where(x >= 0, x, alpha * x), FLOAT),
    "ThresholdedRelu": Elementwise(lambda x, alpha: np.where(x > alpha, x, 0), FLOAT),
    "Elu": Elementwise(elu, FLOAT),
    "Selu": Elementwise(lambda x, alpha, gamma: gamma * elu(x, alpha), FLOAT),
    "Gelu": Elementwise(gelu, FLOAT, check=check_gelu),
    "Not": Elementwise(np.logical_not, BOOL),
    "IsNaN": Elementwise(np.isnan, FLOAT, "bool"),
    "IsInf": Elementwise(lambda x, detect_negative, detect_positive:
                         np.isinf(x) & (((x > 0) & bool(detect_positive))
                                        | ((x < 0) & bool(detect_negative))), FLOAT, "bool"),
}


def divide(a, b):
    """ONNX Div: true division for floats, division truncated toward zero for integers."""
    if a.dtype.kind == "f":
        return a / b
    q = np.floor_divide(a, b)
    inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return q + inexact.astype(q.dtype)


def mod(a, b, fmod):
    """fmod=0: a - floor(a / b) * b, the divisor's sign (Python; floats since ONNX opset 28);
    fmod=1: a - trunc(a / b) * b, the dividend's sign (C)."""
    return np.fmod(a, b) if fmod else np.mod(a, b)


def prelu(x, slope):
    return np.where(x < 0, x * slope, x)


BINARY: dict[str, Elementwise] = {
    "Add": Elementwise(np.add, NUMERIC),
    "Sub": Elementwise(np.subtract, NUMERIC),
    "Mul": Elementwise(np.multiply, NUMERIC),
    "Div": Elementwise(divide, NUMERIC),
    "Mod": Elementwise(mod, NUMERIC),
    "PRelu": Elementwise(prelu, SIGNED, check=check_prelu),
    "Equal": Elementwise(np.equal, ANY, "bool"),
    "Less": Elementwise(np.less, NUMERIC, "bool"),
    "Greater": Elementwise(np.greater, NUMERIC, "bool"),
    "LessOrEqual": Elementwise(np.less_equal, NUMERIC, "bool"),
    "GreaterOrEqual": Elementwise(np.greater_equal, NUMERIC, "bool"),
    "And": Elementwise(np.logical_and, BOOL, "bool"),
    "Or": Elementwise(np.logical_or, BOOL, "bool"),
    "Xor": Elementwise(np.logical_xor, BOOL, "bool"),
}

VARIADIC: dict[str, Elementwise] = {
    "Max": Elementwise(lambda *xs: functools.reduce(np.maximum, xs), NUMERIC),
    "Min": Elementwise(lambda *xs: functools.reduce(np.minimum, xs), NUMERIC),
    "Sum": Elementwise(lambda *xs: functools.reduce(np.add, xs), NUMERIC),
    "Mean": Elementwise(lambda *xs: functools.reduce(np.add, xs) / len(xs), FLOAT),
}

UNARY_OPS = frozenset(UNARY)
BINARY_OPS = frozenset(BINARY)
VARIADIC_OPS = frozenset(VARIADIC)
COMPARISON_OPS = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
LOGICAL_OPS = frozenset({"And", "Or", "Xor", "Not"})


def same_dtypes(types: tuple[TensorType, ...], allowed: frozenset, op: str) -> str:
    """The inputs' common dtype; a ShapeError if they differ or the op does not take it."""
    dtypes = [t.dtype for t in types]
    if len(set(dtypes)) > 1:
        raise ShapeError(f"{op} inputs have dtypes {dtypes}; expected one dtype")
    require_dtype(types[0], set(allowed), f"{op} input")
    return dtypes[0]


def check_arity(types: tuple, expected: int | None, op: str) -> None:
    """`expected` None means variadic: at least one input."""
    if len(types) != (expected or max(len(types), 1)):
        raise ShapeError(f"{op} takes {expected or 'at least 1'} input(s), given {len(types)}")


def broadcast_infer(op: str, row: Elementwise, arity: int | None) -> Callable:
    def infer(*types: TensorType, **attrs) -> TensorType:
        check_arity(types, arity, op)
        dtype = same_dtypes(types, row.dtypes, op)
        if row.check:
            row.check(*types, **attrs)
        return TensorType(broadcast_shapes(*(t.shape for t in types)), row.out or dtype)

    return infer


def widen_half(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float16 else a


def reference(row: Elementwise) -> Callable:
    """The row's function with NumPy's floating-point warnings off and the result dtype set.
    float16 computes in float32 and rounds once at the end, as ORT's CPU kernels do."""

    def compute(*arrays: np.ndarray, **attrs):
        with np.errstate(all="ignore"):
            out = np.asarray(row.fn(*map(widen_half, arrays), **attrs))
            return out.astype(row.out or arrays[0].dtype, copy=False)

    return compute


for _name, _row in UNARY.items():
    register(_name, Pattern.ELEMWISE, broadcast_infer(_name, _row, 1))(reference(_row))
for _name, _row in BINARY.items():
    register(_name, Pattern.BROADCAST, broadcast_infer(_name, _row, 2))(reference(_row))
for _name, _row in VARIADIC.items():
    register(_name, Pattern.BROADCAST, broadcast_infer(_name, _row, None))(reference(_row))


# -- ops whose typing is not "same dtype in, broadcast shape out" -----------------------------

def _pow_infer(base: TensorType, exponent: TensorType) -> TensorType:
    require_dtype(base, set(NUMERIC), "Pow base")
    require_dtype(exponent, set(NUMERIC), "Pow exponent")
    return TensorType(broadcast_shapes(base.shape, exponent.shape), base.dtype)


@register("Pow", Pattern.BROADCAST, _pow_infer)
def pow_(base, exponent):
    """Mixed dtypes allowed, the base's wins; computed in double like ORT, then cast (which
    truncates integer results: 2 ** -1 == 0)."""
    with np.errstate(all="ignore"):
        return np.power(base.astype(np.float64), exponent.astype(np.float64)).astype(base.dtype)


def _where_infer(cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    require_dtype(cond, set(BOOL), "Where condition")
    dtype = same_dtypes((x, y), ANY, "Where")
    return TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), dtype)


@register("Where", Pattern.BROADCAST, _where_infer)
def where(cond, x, y):
    return np.where(cond, x, y)


def _clip_infer(x: TensorType, min: float, max: float) -> TensorType:
    require_dtype(x, set(NUMERIC), "Clip input")
    for what, bound in (("min", min), ("max", max)):
        if not isinstance(bound, (int, float)):
            raise ShapeError(f"Clip {what} must be a number, given {bound!r}")
    return x


@register("Clip", Pattern.ELEMWISE, _clip_infer)
def clip(x, min, max):
    """min > max sets everything to max, as ONNX specifies."""
    with np.errstate(all="ignore"):
        return np.minimum(np.maximum(x, x.dtype.type(min)), x.dtype.type(max))


CAST_TYPES = ANY


def _cast_infer(x: TensorType, to: str) -> TensorType:
    require_dtype(x, set(CAST_TYPES), "Cast input")
    if to not in CAST_TYPES:
        raise ShapeError(f"Cast to {to!r} is not supported; expected one of {sorted(CAST_TYPES)}")
    return TensorType(x.shape, to)


@register("Cast", Pattern.ELEMWISE, _cast_infer)
def cast(x, to):
    """C casts as ORT: floats truncate toward zero; nonzero (and NaN) becomes True."""
    with np.errstate(all="ignore"):
        return x.astype(to)
