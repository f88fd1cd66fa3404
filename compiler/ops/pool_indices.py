"""MaxPoolWithIndices: MaxPool with its second ONNX output, Indices (the position of each
window's maximum in the flattened input).

ONNX Runtime computes both outputs in one scan, and this op follows that scan, which differs
from plain MaxPool in corners: each window's taps on the input are visited in raster order,
starting from the first, and a later tap is taken when it is strictly greater. So a NaN at the
first tap is the result, a later NaN is skipped, and the first of equal maxima wins. Indices
count in (N, C, *spatial) row-major order, but with storage_order=1 the spatial position is
column-major (the first spatial axis fastest): index = (n * C + c) * prod(spatial) + position.
A window with no tap on the input (dilation can step over it) gives the lowest value, and the
index that position formula gives for coordinates all -1 (as ONNX Runtime, which starts there).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from .pool import MAXPOOL_TYPES, _infer_pool, _lowest, _pool_view
from .registry import Pattern, TensorType, register


def _infer(x, *, storage_order, **attrs):
    if storage_order not in (0, 1):
        raise ShapeError(f"MaxPool storage_order {storage_order!r} is not 0 or 1")
    y = _infer_pool(x, **attrs, allowed=MAXPOOL_TYPES, op="MaxPool")
    return y, TensorType(y.shape, "int64")


def _first_max(taps: np.ndarray, on_input: np.ndarray) -> np.ndarray:
    """The scan's pick per window (last axis: taps in raster order): the first tap on the
    input if it is NaN, else the first tap on the input equal to the window's maximum."""
    first = np.argmax(on_input, axis=-1)
    if taps.dtype.kind == "f":
        numbers = on_input & ~np.isnan(taps)
        top = np.where(numbers, taps, -np.inf).max(axis=-1, keepdims=True)
        nan_first = np.isnan(np.take_along_axis(taps, first[..., None], -1))[..., 0]
    else:
        top = np.where(on_input, taps, np.iinfo(taps.dtype).min).max(axis=-1, keepdims=True)
        nan_first = False
    return np.where(nan_first, first, np.argmax(on_input & (taps == top), axis=-1))


@register("MaxPoolWithIndices", Pattern.REDUCTION, _infer)
def max_pool_with_indices(x, *, storage_order, **attrs):
    nd = x.ndim - 2
    spatial = x.shape[2:]
    size = math.prod(spatial)
    positions = np.broadcast_to(np.arange(size).reshape(spatial), x.shape)
    views = [_pool_view(a, fill, **attrs) for a, fill in
             ((x, 0), (np.ones(x.shape, bool), False), (positions, -1))]
    taps, on_input, where = (v.reshape(v.shape[:-nd] + (-1,)) for v in views)
    pick = _first_max(taps, on_input)[..., None]
    value = np.take_along_axis(taps, pick, -1)[..., 0]
    some = on_input.any(axis=-1)
    coords = np.unravel_index(np.where(some, np.take_along_axis(where, pick, -1)[..., 0], 0),
                              spatial)
    base = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * nd) * size
    position = sum(np.where(some, c, -1) * m for c, m in zip(coords, strides(spatial,
                                                                           storage_order)))
    return (np.where(some, value, _lowest(x.dtype)).astype(x.dtype),
            (base + position).astype(np.int64))


def strides(spatial: tuple, storage_order: int) -> list[int]:
    """Index step per spatial axis: row-major (storage_order 0) or column-major (1)."""
    order = range(len(spatial)) if storage_order else reversed(range(len(spatial)))
    steps, step = [0] * len(spatial), 1
    for d in order:
        steps[d], step = step, step * spatial[d]
    return steps
