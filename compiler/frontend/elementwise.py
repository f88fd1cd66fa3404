"""Converters for elementwise and broadcast ONNX ops.

Most map one-to-one onto the same-named IR op: the table below gives the first opset each
exists in (so older models are refused) and its attribute defaults. Since opset 9 none of
these changed meaning, only the dtypes they accept. Clip, Cast, CastLike and Dropout need
their inputs or attributes resolved and have converters of their own.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, UnsupportedModelError
from .dtypes import COMPUTE_TYPES, numpy_dtype, type_name
from .registry import converter

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875

# ONNX op -> (first opset, {attribute: default}); the IR op has the same name and attributes.
DIRECT: dict[str, tuple[int, dict]] = {
    **{op: (1, {}) for op in (
        "Identity", "Relu", "Neg", "Abs", "Sqrt", "Exp", "Log", "Tanh", "Sigmoid", "Reciprocal",
        "Floor", "Ceil", "Softsign", "Softplus", "Not", "PRelu",
        "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "And", "Or", "Xor",
        "Max", "Min", "Sum", "Mean")},
    **{op: (7, {}) for op in ("Sin", "Cos")},
    **{op: (9, {}) for op in ("Erf", "Sign", "IsNaN", "Where")},
    "LeakyRelu": (1, {"alpha": 0.01}),
    "Elu": (1, {"alpha": 1.0}),
    "Selu": (1, {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}),
    "HardSigmoid": (1, {"alpha": 0.2, "beta": 0.5}),
    "ThresholdedRelu": (10, {"alpha": 1.0}),
    "IsInf": (10, {"detect_negative": 1, "detect_positive": 1}),
    "Mod": (28, {"fmod": 0}),
    "Round": (11, {}),
    **{op: (12, {}) for op in ("LessOrEqual", "GreaterOrEqual")},
    "HardSwish": (14, {}),
    "Gelu": (20, {"approximate": "none"}),
}


def direct(op: str, defaults: dict):
    def convert(ctx, node):
        return ctx.emit1(op, node.inputs, {k: node.attr(k, d) for k, d in defaults.items()})

    convert.__name__ = f"convert_{op.lower()}"
    return convert


for _op, (_since, _defaults) in DIRECT.items():
    converter(_op, since=_since)(direct(_op, _defaults))


# -- Mod: floor modulo (fmod=0) of floats is new in opset 28 ---------------------------------

@converter("Mod", since=10)
def convert_mod_10(ctx, node):
    """Before opset 28, fmod=0 (the divisor's sign) is defined for integers only."""
    a, fmod = node.inputs[0], node.attr("fmod", 0)
    if not fmod and np.dtype(a.dtype).kind == "f":
        raise ShapeError(f"{node.where}: Mod on {a.dtype} inputs requires fmod=1 before opset "
                         f"28, given fmod={fmod}")
    return ctx.emit1("Mod", node.inputs, {"fmod": fmod})


# -- Clip: bounds are attributes before opset 11, optional scalar inputs after ----------------

def default_bounds(dtype: str) -> dict[str, float | int]:
    """The spec's numeric_limits::lowest() and max(): the type's finite range, so an absent
    float bound still clips an infinity to the largest finite value, as ONNX Runtime does."""
    kind = np.dtype(dtype).kind
    if kind == "f":
        return {"min": float(np.finfo(dtype).min), "max": float(np.finfo(dtype).max)}
    if kind in "iu":
        return {"min": int(np.iinfo(dtype).min), "max": int(np.iinfo(dtype).max)}
    raise ShapeError(f"Clip input has dtype {dtype}; expected a numeric type")


@converter("Clip", since=1)
def convert_clip_attrs(ctx, node):
    lo, hi = np.finfo(np.float32).min, np.finfo(np.float32).max  # the opset-6 defaults
    return ctx.emit1("Clip", [node.inputs[0]], {"min": float(node.attr("min", lo)),
                                                 "max": float(node.attr("max", hi))})


def scalar_of(ctx, v, dtype: str, what: str) -> float | int:
    arr = np.asarray(ctx.value_of(v, what))
    if arr.size != 1:
        raise ShapeError(f"{what} must be a scalar, given shape {list(arr.shape)}")
    return arr.reshape(()).astype(dtype).item()


@converter("Clip", since=11)
def convert_clip(ctx, node):
    """Bounds known at import become attributes; a bound computed from graph inputs' data
    stays a tensor and is applied with Max/Min instead."""
    x = node.inputs[0]
    given = {k: b for k, b in (("min", node.input(1)), ("max", node.input(2))) if b is not None}
    dynamic = {k: b for k, b in given.items() if not ctx.is_known(b)}
    bounds = default_bounds(x.dtype)
    bounds.update({k: scalar_of(ctx, b, x.dtype, f"Clip {k}") for k, b in given.items()
                   if k not in dynamic})
    y = ctx.emit1("Max", [x, dynamic["min"]]) if "min" in dynamic else x
    if len(given) > len(dynamic) or not given:  # some bound is static, or none is given
        y = ctx.emit1("Clip", [y], bounds)
    return ctx.emit1("Min", [y, dynamic["max"]]) if "max" in dynamic else y


# -- Cast -------------------------------------------------------------------------------------

def onnx_dtype(elem_type: int) -> str:
    """The numpy dtype name of an ONNX element type, if TensorForge computes in it (import
    refuses other Cast targets first, see dtypes.py)."""
    dtype = numpy_dtype(elem_type)
    if dtype is None:
        raise ShapeError(f"Cast to ONNX type {type_name(elem_type)} is not supported; supported: "
                         f"{sorted(COMPUTE_TYPES)}")
    return dtype


@converter("Cast", since=1)
def convert_cast(ctx, node):
    """`saturate` (opset 19) and `round_mode` (opset 24) only affect float8 targets, which are
    refused at import."""
    return ctx.emit1("Cast", [node.inputs[0]], {"to": onnx_dtype(node.attr("to"))})


@converter("CastLike", since=15)
def convert_cast_like(ctx, node):
    return ctx.emit1("Cast", [node.inputs[0]], {"to": node.inputs[1].dtype})


# -- Dropout: the identity and a constant mask, unless it draws a random mask ----------------

DEFAULT_RATIO = 0.5
RANDOM_DROPOUT = ("Dropout with training_mode true and ratio > 0 drops random elements: no "
                  "reference output can match it (export the model in eval mode)")


def is_random_dropout(training_mode, ratio) -> bool:
    """Whether a Dropout draws a random mask: training_mode true and a ratio above 0 (with
    training_mode false, or ratio 0, it is the identity and keeps every element)."""
    return bool(np.any(training_mode)) and float(np.asarray(ratio).reshape(-1)[0]) != 0


def mask_of(x, opset: int) -> np.ndarray:
    """The mask ORT returns in inference: all zeros of x's dtype at opset 9, all False at 10-11
    (its legacy kernels), all True ("kept") from opset 12, as the spec says."""
    return np.full(x.shape, opset >= 12, "bool" if opset >= 10 else x.dtype)


@converter("Dropout", since=1)
def identity_and_mask(ctx, node):
    x = node.inputs[0]
    y = ctx.emit1("Identity", [x])
    if len(node.outputs) > 1 and node.outputs[1]:
        return y, ctx.const(mask_of(x, node.opset), name="dropout_mask")
    return y


@converter("Dropout", since=12)
def convert_dropout_12(ctx, node):
    """training_mode (default false) and, when it is true, ratio (default 0.5) must be known
    at compile time; a Dropout that would draw a random mask is refused."""
    training, ratio = node.input(2), node.input(1)
    if training is not None and np.any(ctx.value_of(training, "Dropout training_mode")):
        ratio = DEFAULT_RATIO if ratio is None else ctx.value_of(ratio, "Dropout ratio")
        if is_random_dropout(True, ratio):
            raise UnsupportedModelError([(node.op_type, node.opset, node.name)],
                                        RANDOM_DROPOUT)
    return identity_and_mask(ctx, node)
