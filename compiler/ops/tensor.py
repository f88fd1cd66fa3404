"""Shape-manipulation ops: data movement (Reshape, Transpose, Concat, Split, Slice, Gather,
Expand, Tile, Pad) and shape sources (Shape, Size, ConstantOfShape, Range).

Every static parameter is an attribute resolved at import time, so each infer function sees
the whole output shape and each reference only indexes: Slice's starts/ends are clamped per
axis, Pad's pads cover every axis, Expand's shape is the broadcast output shape.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, ShapeError
from .registry import Pattern, TensorType, broadcast_shapes, normalize_axis, register

INDEX_TYPES = {"int32", "int64"}
PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _require_ints(values, what: str, minimum: int | None = None) -> tuple[int, ...]:
    """Attribute tuples must hold Python ints (at least `minimum` each)."""
    if not isinstance(values, tuple) or not all(isinstance(v, int) for v in values):
        raise ShapeError(f"{what} must be a tuple of ints, given {values!r}")
    if minimum is not None and any(v < minimum for v in values):
        raise ShapeError(f"{what} {list(values)} has a value below {minimum}")
    return values


def _require_len(values: tuple, n: int, what: str) -> None:
    if len(values) != n:
        raise ShapeError(f"{what} has {len(values)} entries {list(values)}; expected {n}")


# -- Reshape, Transpose ---------------------------------------------------------------------

def _infer_reshape(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    _require_ints(shape, "Reshape shape", minimum=0)
    if math.prod(shape) != math.prod(x.shape):
        raise ShapeError(f"cannot reshape {list(x.shape)} ({math.prod(x.shape)} elements) to "
                         f"{list(shape)} ({math.prod(shape)} elements)")
    return TensorType(shape, x.dtype)


@register("Reshape", Pattern.INJECTIVE, _infer_reshape)
def reshape(x, *, shape):
    return x.reshape(shape)


def _infer_transpose(x: TensorType, *, perm: tuple[int, ...]) -> TensorType:
    _require_ints(perm, "Transpose perm")
    if sorted(perm) != list(range(len(x.shape))):
        raise ShapeError(f"perm {list(perm)} is not a permutation of the axes of rank "
                         f"{len(x.shape)} input {list(x.shape)}")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


@register("Transpose", Pattern.INJECTIVE, _infer_transpose)
def transpose(x, *, perm):
    return np.transpose(x, perm)


# -- Concat, Split --------------------------------------------------------------------------

def _infer_concat(*xs: TensorType, axis: int) -> TensorType:
    if not xs:
        raise ShapeError("Concat needs at least one input")
    first = xs[0]
    normalize_axis(axis, len(first.shape), "Concat axis")
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise ShapeError(f"Concat inputs have dtypes {first.dtype} and {x.dtype}")
        if len(x.shape) != len(first.shape) or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis):
            raise ShapeError(f"Concat on axis {axis}: input shapes {list(first.shape)} and "
                             f"{list(x.shape)} differ outside the axis")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return TensorType(tuple(shape), first.dtype)


@register("Concat", Pattern.INJECTIVE, _infer_concat)
def concat(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _infer_split(x: TensorType, *, axis: int, split: tuple[int, ...]) -> tuple[TensorType, ...]:
    normalize_axis(axis, len(x.shape), "Split axis")
    _require_ints(split, "Split sizes", minimum=0)
    if sum(split) != x.shape[axis]:
        raise ShapeError(f"Split sizes {list(split)} sum to {sum(split)}, but axis {axis} of "
                         f"{list(x.shape)} has {x.shape[axis]}")
    return tuple(TensorType(x.shape[:axis] + (s,) + x.shape[axis + 1:], x.dtype) for s in split)


@register("Split", Pattern.INJECTIVE, _infer_split)
def split(x, *, axis, split):
    return tuple(np.split(x, np.cumsum(split)[:-1], axis=axis))


# -- Slice ----------------------------------------------------------------------------------

def slice_length(start: int, end: int, step: int) -> int:
    """Elements of range(start, end, step): the output extent of one sliced axis."""
    return max(0, -((start - end) // step) if step > 0 else -((end - start) // -step))


# An end of INT32_MAX or INT64_MAX slices to the end in the step's direction (NumPy's None).
SLICE_END_SENTINELS = {2**31 - 1, 2**63 - 1}


def normalize_slice(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice bounds on an axis of size `dim` (negatives count from the end, any value is
    clamped) -> (start, end, step) with start a valid index, end in [0, dim] (step > 0) or
    [-1, dim - 1] (step < 0, -1 = before index 0), and an empty result always (0, 0, 1)."""
    if step == 0:
        raise ShapeError("Slice step must not be 0")
    if dim == 0:
        return (0, 0, 1)
    lo, hi = (0, dim) if step > 0 else (-1, dim - 1)

    def clamp(v: int) -> int:
        return min(max(v + dim if v < 0 else v, lo), hi)

    start = max(clamp(start), 0)
    end = (hi if step > 0 else lo) if end in SLICE_END_SENTINELS else clamp(end)
    return (start, end, step) if slice_length(start, end, step) else (0, 0, 1)


def _infer_slice(x: TensorType, *, starts, ends, axes, steps) -> TensorType:
    for what, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)):
        _require_ints(v, f"Slice {what}")
        _require_len(v, len(axes), f"Slice {what}")
    if list(axes) != sorted(set(axes)) or any(not 0 <= a < len(x.shape) for a in axes):
        raise ShapeError(f"Slice axes {list(axes)} must be sorted, unique and in range for "
                         f"rank {len(x.shape)}")
    shape = list(x.shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        lo, hi = (0, shape[a]) if st > 0 else (-1, shape[a] - 1)
        if st == 0 or not (0 <= s <= hi and lo <= e <= hi):
            raise ShapeError(f"Slice on axis {a} of size {shape[a]}: start {s}, end {e}, "
                             f"step {st} are not normalized")
        shape[a] = slice_length(s, e, st)
    return TensorType(tuple(shape), x.dtype)


@register("Slice", Pattern.INJECTIVE, _infer_slice)
def slice_(x, *, starts, ends, axes, steps):
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[a] = slice(s, e if e >= 0 else None, st)
    return x[tuple(index)]


# -- Gather ---------------------------------------------------------------------------------

def _infer_gather(data: TensorType, indices: TensorType, *, axis: int) -> TensorType:
    if indices.dtype not in INDEX_TYPES:
        raise ShapeError(f"Gather indices have dtype {indices.dtype}; expected int32 or int64")
    if not 0 <= axis < len(data.shape):
        raise ShapeError(f"Gather axis {axis} is out of range for data {list(data.shape)}")
    return TensorType(data.shape[:axis] + indices.shape + data.shape[axis + 1:], data.dtype)


@register("Gather", Pattern.INJECTIVE, _infer_gather)
def gather(data, indices, *, axis):
    """Negative indices count from the end (np.take does the same); others must be in range."""
    n = data.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise InputError(f"Gather indices must lie in [{-n}, {n - 1}] for axis {axis} of size "
                         f"{n}; given values from {indices.min()} to {indices.max()}")
    return np.take(data, indices, axis=axis)


# -- Expand, Tile, Pad ----------------------------------------------------------------------

def _infer_expand(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    _require_ints(shape, "Expand shape", minimum=0)
    out = broadcast_shapes(x.shape, shape)
    if out != tuple(shape):
        raise ShapeError(f"Expand shape {list(shape)} must be the broadcast output shape "
                         f"{list(out)} of input {list(x.shape)}")
    return TensorType(out, x.dtype)


@register("Expand", Pattern.INJECTIVE, _infer_expand)
def expand(x, *, shape):
    return np.broadcast_to(x, shape)


def _infer_tile(x: TensorType, *, repeats: tuple[int, ...]) -> TensorType:
    _require_ints(repeats, "Tile repeats", minimum=0)
    _require_len(repeats, len(x.shape), f"Tile repeats for input {list(x.shape)}")
    return TensorType(tuple(d * r for d, r in zip(x.shape, repeats)), x.dtype)


@register("Tile", Pattern.INJECTIVE, _infer_tile)
def tile(x, *, repeats):
    return np.tile(x, repeats)


def _infer_pad(x: TensorType, *, pads: tuple[int, ...], mode: str, value) -> TensorType:
    """pads = (begin..., end...) for every axis; negative pads crop before padding."""
    rank = len(x.shape)
    _require_ints(pads, "Pad pads")
    _require_len(pads, 2 * rank, f"Pad pads for input {list(x.shape)}")
    if mode not in PAD_MODES:
        raise ShapeError(f"Pad mode {mode!r} is not one of {list(PAD_MODES)}")
    shape = []
    for d, b, e in zip(x.shape, pads[:rank], pads[rank:]):
        kept = d + min(b, 0) + min(e, 0)
        if kept < 0:
            raise ShapeError(f"Pad pads {list(pads)} crop more than input {list(x.shape)} holds")
        extra = max(b, 0), max(e, 0)
        if mode != "constant" and max(extra) > 0 and kept == 0:
            raise ShapeError(f"Pad mode {mode!r} cannot pad an empty axis of {list(x.shape)}")
        if mode == "reflect" and max(extra) > max(kept - 1, 0):
            raise ShapeError(f"Pad mode 'reflect' pads {list(pads)} exceed size - 1 of input "
                             f"{list(x.shape)}")
        shape.append(kept + sum(extra))
    return TensorType(tuple(shape), x.dtype)


@register("Pad", Pattern.INJECTIVE, _infer_pad)
def pad(x, *, pads, mode, value):
    rank = x.ndim
    begin, end = pads[:rank], pads[rank:]
    cropped = x[tuple(slice(-min(b, 0), d + min(e, 0)) for d, b, e in zip(x.shape, begin, end))]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if mode == "constant":
        return np.pad(cropped, widths, mode="constant", constant_values=np.array(value, x.dtype))
    return np.pad(cropped, widths, mode=mode)


# -- shape sources --------------------------------------------------------------------------

def _infer_shape(x: TensorType, *, start: int, end: int) -> TensorType:
    rank = len(x.shape)
    if not 0 <= start <= end <= rank:
        raise ShapeError(f"Shape start {start} and end {end} must satisfy "
                         f"0 <= start <= end <= rank {rank}")
    return TensorType((end - start,), "int64")


@register("Shape", Pattern.OPAQUE, _infer_shape)
def shape(x, *, start, end):
    return np.array(x.shape[start:end], dtype=np.int64)


@register("Size", Pattern.OPAQUE, lambda x: TensorType((), "int64"))
def size(x):
    return np.array(x.size, dtype=np.int64)


def _infer_constant_of_shape(*, shape: tuple[int, ...], value, dtype: str) -> TensorType:
    return TensorType(_require_ints(shape, "ConstantOfShape shape", minimum=0), dtype)


@register("ConstantOfShape", Pattern.OPAQUE, _infer_constant_of_shape)
def constant_of_shape(*, shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def range_length(start, limit, delta, dtype: str) -> int:
    """ONNX Range's element count: ceil((limit - start) / delta), the difference taken in
    `dtype` as ONNX Runtime does."""
    if delta == 0:
        raise ShapeError("Range delta must not be 0")
    span = np.subtract(np.array(limit, dtype), np.array(start, dtype), dtype=dtype)
    return max(0, math.ceil(float(span) / float(delta)))


@register("Range", Pattern.OPAQUE,
          lambda *, start, limit, delta, dtype:
          TensorType((range_length(start, limit, delta, dtype),), dtype))
def range_(*, start, limit, delta, dtype):
    steps = np.arange(range_length(start, limit, delta, dtype),
                      dtype=np.float64 if np.dtype(dtype).kind == "f" else np.int64)
    return (start + steps * delta).astype(dtype)
