"""Reductions and scans along axes: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax, CumSum.

The NumPy references follow ONNX Runtime where the spec leaves room: float16 accumulates in
float32, float32 in float32; an empty reduction gives the op's identity (ReduceMean gives 0);
integer ReduceMean divides with truncation toward zero and ReduceL2 truncates the root;
max, min, ArgMax and ArgMin skip a NaN unless it is the range's first element (`nan_if_first`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ShapeError
from .registry import (FLOAT_TYPES, NUMERIC_TYPES, Pattern, TensorType, normalize_axis,
                       register, require_dtype)


def accumulate_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype ORT accumulates sums and products of `dtype` in: float16 widens to float32."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def normalize_axes(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """Axes in range, non-negative, sorted; a repeated axis is an error."""
    norm = [normalize_axis(a, rank, "reduction axis") for a in axes]
    if len(set(norm)) != len(norm):
        raise ShapeError(f"axes {tuple(axes)} repeat an axis (rank {rank})")
    return tuple(sorted(norm))


def _single_axis(name: str, x: TensorType, axis: int) -> int:
    """`axis` normalized for an op that works along one axis of an input of rank >= 1."""
    if not x.shape:
        raise ShapeError(f"{name} needs an input of rank >= 1, given a scalar")
    return normalize_axis(axis, len(x.shape))


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: int) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape)
                 if keepdims or i not in axes)


# -- Reduce* -----------------------------------------------------------------------------

def _accumulating(fn: Callable) -> Callable:
    """Sum or product accumulated in `accumulate_dtype`."""
    return lambda x, axes, keepdims: fn(x, axis=axes, keepdims=keepdims,
                                        dtype=accumulate_dtype(x.dtype))


def _int_mean(total: np.ndarray, count: int) -> np.ndarray:
    """Integer division that truncates toward zero, as C (and ORT) divide."""
    q = np.abs(total) // count
    return np.where(total < 0, -q, q).astype(total.dtype)


def _mean(x, axes, keepdims):
    count = max(int(np.prod([x.shape[a] for a in axes], dtype=np.int64)), 1)
    total = _accumulating(np.sum)(x, axes, keepdims)
    return _int_mean(total, count) if x.dtype.kind in "iu" else total / total.dtype.type(count)


def nan_if_first(first: np.ndarray, total: np.ndarray) -> np.ndarray:
    """ONNX Runtime's max / min scan starts from the range's first element and only a larger
    (smaller) one replaces it: a NaN shows when it comes first and is skipped anywhere else.
    `total` is the NaN-skipping extreme (np.fmax / np.fmin), `first` the first elements."""
    if first.dtype.kind != "f":
        return total
    first = first.reshape(np.shape(total))
    return np.where(np.isnan(first), first, total)


def first_elements(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """x at index 0 of every axis in `axes` (those axes kept with length 1)."""
    return x[tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))]


def _extreme(skip_nan: np.ufunc, pick: Callable[[np.dtype], object]) -> Callable:
    """Max or min in ONNX Runtime's scan order (nan_if_first); `pick(dtype)` is the value of
    an empty reduction."""
    def ref(x, axes, keepdims):
        total = skip_nan.reduce(x, axis=axes, keepdims=keepdims, initial=pick(x.dtype))
        if not all(x.shape[a] for a in axes):
            return total
        return nan_if_first(first_elements(x, axes), total)
    return ref


def _lowest(dtype):
    return False if dtype == bool else (-np.inf if dtype.kind == "f" else np.iinfo(dtype).min)


def _highest(dtype):
    return True if dtype == bool else (np.inf if dtype.kind == "f" else np.iinfo(dtype).max)


def _l2(x, axes, keepdims):
    wide = x.astype(np.float64 if x.dtype.kind in "iu" else accumulate_dtype(x.dtype))
    return np.sqrt(np.sum(wide * wide, axis=axes, keepdims=keepdims))


# name -> (reference over (x, axes, keepdims), dtypes accepted)
REDUCE_OPS: dict[str, tuple[Callable, set[str]]] = {
    "ReduceSum": (_accumulating(np.sum), NUMERIC_TYPES),
    "ReduceProd": (_accumulating(np.prod), NUMERIC_TYPES),
    "ReduceMean": (_mean, NUMERIC_TYPES),
    "ReduceMax": (_extreme(np.fmax, _lowest), NUMERIC_TYPES | {"bool"}),
    "ReduceMin": (_extreme(np.fmin, _highest), NUMERIC_TYPES | {"bool"}),
    "ReduceL2": (_l2, NUMERIC_TYPES),
}


def _register_reduce(name: str, ref: Callable, dtypes: set[str]) -> None:
    def infer(x: TensorType, *, axes: tuple[int, ...], keepdims: int) -> TensorType:
        require_dtype(x, dtypes, f"{name} input")
        return TensorType(reduced_shape(x.shape, normalize_axes(axes, len(x.shape)), keepdims),
                          x.dtype)

    @register(name, Pattern.REDUCTION, infer)
    def compute(x, *, axes, keepdims):
        out = ref(x, normalize_axes(axes, x.ndim), bool(keepdims))
        return np.asarray(out).astype(x.dtype)


for _name, (_ref, _dtypes) in REDUCE_OPS.items():
    _register_reduce(_name, _ref, _dtypes)


# -- ArgMax / ArgMin -----------------------------------------------------------------------

def _arg_index(skip_nan: np.ufunc) -> Callable:
    """ArgMax / ArgMin in ONNX Runtime's scan order: the first element starts it and another
    replaces it only when larger (smaller; select_last_index: or equal), so a NaN wins only
    as the first element. The index of the first (last) NaN-skipping extreme, else 0."""
    def index(x, axis, last):
        hit = x == skip_nan.reduce(x, axis=axis, keepdims=True)
        if last:
            idx = x.shape[axis] - 1 - np.argmax(np.flip(hit, axis), axis=axis, keepdims=True)
        else:
            idx = np.argmax(hit, axis=axis, keepdims=True)
        if x.dtype.kind == "f":
            first = first_elements(x, (axis,))
            idx = np.where(np.isnan(first) | ~hit.any(axis=axis, keepdims=True), 0, idx)
        return idx
    return index


def _register_arg(name: str, fn: Callable) -> None:
    def infer(x: TensorType, *, axis: int, keepdims: int, select_last_index: int) -> TensorType:
        require_dtype(x, NUMERIC_TYPES, f"{name} input")
        axis = _single_axis(name, x, axis)
        if x.shape[axis] == 0:
            raise ShapeError(f"{name} over axis {axis} of shape {list(x.shape)}: the axis is "
                             "empty, so there is no index to return")
        return TensorType(reduced_shape(x.shape, (axis,), keepdims), "int64")

    @register(name, Pattern.REDUCTION, infer)
    def compute(x, *, axis, keepdims, select_last_index):
        axis = normalize_axis(axis, x.ndim)
        idx = fn(x, axis, bool(select_last_index))
        return (idx if keepdims else np.squeeze(idx, axis)).astype(np.int64)


_register_arg("ArgMax", _arg_index(np.fmax))
_register_arg("ArgMin", _arg_index(np.fmin))


# -- Softmax / LogSoftmax ------------------------------------------------------------------

def _softmax_infer(name: str) -> Callable:
    def infer(x: TensorType, *, axis: int) -> TensorType:
        require_dtype(x, FLOAT_TYPES, f"{name} input")
        _single_axis(name, x, axis)
        return x

    return infer


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x - max(x) along `axis` in float64: exp of it cannot overflow."""
    wide = x.astype(np.float64)
    return wide - np.max(wide, axis=axis, keepdims=True)


@register("Softmax", Pattern.REDUCTION, _softmax_infer("Softmax"))
def softmax(x, *, axis):
    e = np.exp(_shifted(x, axis))
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


@register("LogSoftmax", Pattern.REDUCTION, _softmax_infer("LogSoftmax"))
def log_softmax(x, *, axis):
    s = _shifted(x, axis)
    return (s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))).astype(x.dtype)


# -- CumSum --------------------------------------------------------------------------------

def _cumsum_infer(x: TensorType, *, axis: int, exclusive: int, reverse: int) -> TensorType:
    require_dtype(x, NUMERIC_TYPES, "CumSum input")
    _single_axis("CumSum", x, axis)
    return x


@register("CumSum", Pattern.REDUCTION, _cumsum_infer)
def cumsum(x, *, axis, exclusive, reverse):
    """y[i] = sum of x[j] for j <= i (j < i if exclusive; j >= i / j > i if reverse).
    Accumulates in x's own dtype, step by step, as ORT does (float16 included)."""
    axis = normalize_axis(axis, x.ndim)
    src = np.flip(x, axis) if reverse else x
    out = np.cumsum(src, axis=axis, dtype=x.dtype)
    if exclusive and out.shape[axis]:
        head = np.zeros_like(np.take(out, [0], axis=axis))
        out = np.concatenate([head, np.take(out, range(out.shape[axis] - 1), axis=axis)], axis)
    return np.flip(out, axis) if reverse else out
