"""Resize: separable N-D interpolation (nearest, linear, cubic) with every ONNX coordinate
transformation. The converter resolves the output shape (`sizes`) and the per-axis `scales`
(the coordinate maps use the scale as given, which need not equal sizes / input shape).

Each axis is resampled on its own: output index x maps to a source coordinate
x_original = transform(x), then to a few (index, weight) taps; the result is a gather plus a
weighted sum along that axis. Where ONNX's text and ONNX Runtime (the oracle) differ, this
follows ONNX Runtime: coordinates are computed in float32 as it does (so nearest-neighbour ties
round alike), an axis with scale 1 is copied whatever the coordinate mode or roi, and linear
results of integer inputs truncate toward zero. Where ONNX Runtime departs from the spec,
this follows the spec (onnx.reference): align_corners divides by the fractional resized
length n * scale. antialias (opset 18) downsamples linear and cubic with the filter stretched
by 1 / scale over more taps, weights normalized.
"""

from __future__ import annotations

from functools import reduce
from typing import Callable

import numpy as np

from ..errors import ShapeError
from .registry import FLOAT_TYPES, NUMERIC_TYPES, Pattern, TensorType, register, require_dtype

# x_original as a function of (x_resized, scale, input length, output length, roi start, end),
# all of them COORDINATE_TYPE scalars or arrays (Python constants stay weakly typed).
COORDINATE_TRANSFORMS: dict[str, Callable] = {
    "half_pixel": lambda x, s, n, m, r0, r1: (x + 0.5) / s - 0.5,
    "half_pixel_symmetric": lambda x, s, n, m, r0, r1:    # offset in float, rest in double
        (n / 2 * (1 - m / (s * n)) + (x.astype(np.float64) + 0.5) / s - 0.5).astype(x.dtype),
    "pytorch_half_pixel": lambda x, s, n, m, r0, r1:
        (x + 0.5) / s - 0.5 if m > 1 else 0 * x,
    "tf_half_pixel_for_nn": lambda x, s, n, m, r0, r1: (x + 0.5) / s,
    "align_corners": lambda x, s, n, m, r0, r1:
        x * (n - 1) / (_resized_length(s, n, m) - 1) if m > 1 else 0 * x,
    "asymmetric": lambda x, s, n, m, r0, r1: x / s,
    "tf_crop_and_resize": lambda x, s, n, m, r0, r1:
        r0 * (n - 1) + x * (r1 - r0) * (n - 1) / (m - 1) if m > 1
        else 0 * x + 0.5 * (r0 + r1) * (n - 1),
}
COORDINATE_TYPE = np.float32


def _resized_length(s, n, m):
    """length_resized of the spec, length_original * scale: m when the scale is m / n (sizes
    given, or an integral n * s), else the fractional n * s (ONNX Runtime 1.32 takes m)."""
    return m if m / n == s else n * s


# nearest_mode: (source coordinate, scale) -> integer index; rounding adds 0.5 in float64 so
# that only true ties round. "simple" is opset 10's rounding in ONNX Runtime: ceil on an axis
# that shrinks, floor otherwise.
NEAREST_MODES: dict[str, Callable] = {
    "round_prefer_floor": lambda c, s: np.ceil(c.astype(np.float64) - 0.5),
    "round_prefer_ceil": lambda c, s: np.floor(c.astype(np.float64) + 0.5),
    "floor": lambda c, s: np.floor(c),
    "ceil": lambda c, s: np.ceil(c),
    "simple": lambda c, s: np.ceil(c) if s < 1 else np.floor(c),
}

MODES = ("nearest", "linear", "cubic")
# Element types per mode (ONNX Runtime's kernels)
MODE_TYPES = {"nearest": NUMERIC_TYPES, "linear": FLOAT_TYPES | {"int8", "uint8", "int32"},
              "cubic": FLOAT_TYPES}


def _nearest_taps(c: np.ndarray, n: int, nearest_mode: str, scale: float, **_):
    idx = NEAREST_MODES[nearest_mode](c, scale).astype(np.int64)
    return idx[:, None], None


def _linear_taps(c: np.ndarray, n: int, **_):
    """The two samples around c, clamped into the input."""
    c = np.clip(c, 0, n - 1)
    lo = np.floor(c)
    frac = c - lo
    lo = lo.astype(np.int64)
    return np.stack([lo, np.minimum(lo + 1, n - 1)], 1), np.stack([1 - frac, frac], 1)


def _keys(dist: np.ndarray, a) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter a at distances `dist` >= 0."""
    near = ((a + 2) * dist - (a + 3)) * dist * dist + 1
    far = ((a * dist - 5 * a) * dist + 8 * a) * dist - 4 * a
    return np.where(dist <= 1, near, np.where(dist < 2, far, 0))


def _cubic_taps(c: np.ndarray, n: int, cubic_coeff_a: float, **_):
    """Keys' cubic convolution with parameter a over the 4 nearest samples."""
    lo = np.floor(c)
    t = (c - lo)[:, None]
    dist = np.abs(t - np.arange(-1, 3, dtype=c.dtype))      # |x - sample| for samples lo-1..lo+2
    return lo.astype(np.int64)[:, None] + np.arange(-1, 3), _keys(dist, c.dtype.type(cubic_coeff_a))


# Antialiasing filters: (half-width in input samples at scale 1, kernel over distances)
FILTERS: dict[str, tuple[int, Callable]] = {
    "linear": (1, lambda d, attrs: np.clip(1 - d, 0, 1)),
    "cubic": (2, lambda d, attrs: _keys(d, attrs["cubic_coeff_a"])),
}


def _antialias_taps(c: np.ndarray, n: int, scale: float, mode: str, **attrs):
    """Downsampling by `scale` < 1 with the filter stretched by 1 / scale (ONNX's reference):
    taps x0 + k for k in [start, 2 - start), start = floor(-half_width / scale) + 1, where
    c = x0 + ratio with ratio in (0, 1]; weight filter(|k - ratio| * scale), normalized."""
    half_width, kernel = FILTERS[mode]
    x0 = np.floor(c).astype(np.int64)
    ratio = (c - x0).astype(np.float64)
    whole = ratio == 0
    x0, ratio = np.where(whole, x0 - 1, x0), np.where(whole, 1.0, ratio)
    start = int(np.floor(-half_width / scale)) + 1
    ks = np.arange(start, 2 - start)
    weights = kernel(np.abs(ks - ratio[:, None]) * scale, attrs)
    return x0[:, None] + ks, (weights / weights.sum(1, keepdims=True)).astype(c.dtype)


TAPS: dict[str, Callable] = {"nearest": _nearest_taps, "linear": _linear_taps,
                             "cubic": _cubic_taps}


def _taps(c: np.ndarray, n: int, scale: float, attrs: dict):
    """(indices clamped into the input, weights or None) of every output position on one axis;
    exclude_outside drops the taps outside the input and renormalizes the rest."""
    downsampling = attrs["antialias"] and scale < 1 and attrs["mode"] in FILTERS
    taps = _antialias_taps if downsampling else TAPS[attrs["mode"]]
    idx, weights = taps(c, n, scale=scale, **attrs)
    if weights is not None and attrs["exclude_outside"]:
        weights = np.where((idx >= 0) & (idx < n), weights, 0)
        weights = weights / weights.sum(1, keepdims=True)
    return np.clip(idx, 0, n - 1), weights


def _infer_resize(x, *, sizes, scales, mode, coordinate_transformation_mode, nearest_mode,
                  cubic_coeff_a, exclude_outside, extrapolation_value, roi, antialias):
    rank = len(x.shape)
    for key, value, table in (("mode", mode, MODES),
                              ("coordinate_transformation_mode", coordinate_transformation_mode,
                               COORDINATE_TRANSFORMS),
                              ("nearest_mode", nearest_mode, NEAREST_MODES)):
        if value not in table:
            raise ShapeError(f"Resize {key} {value!r} is not one of {list(table)}")
    require_dtype(x, MODE_TYPES[mode], f"Resize ({mode}) X")
    for key, value, n in (("sizes", sizes, rank), ("scales", scales, rank), ("roi", roi, 2 * rank)):
        if not isinstance(value, tuple) or len(value) != n:
            raise ShapeError(f"Resize {key} must be a tuple of {n} values (input rank {rank}), "
                             f"given {value!r}")
    if any(not isinstance(s, int) or s < (n > 0) for s, n in zip(sizes, x.shape)):
        raise ShapeError(f"Resize output sizes {list(sizes)} must be positive ints (0 only "
                         f"where input {list(x.shape)} is empty)")
    if any(not s > 0 for s in scales):
        raise ShapeError(f"Resize scales {list(scales)} must be positive")
    if any(s == 1.0 and m != n for s, m, n in zip(scales, sizes, x.shape)):
        raise ShapeError(f"Resize scale 1 must keep the axis length: sizes {list(sizes)}, "
                         f"input {list(x.shape)}")
    return TensorType(sizes, x.dtype)


def _axis_taps(n: int, m: int, scale: float, r0: float, r1: float, attrs: dict):
    """(indices (m, taps), weights (m, taps) or None, inside (m,) bool) for one axis."""
    t = COORDINATE_TYPE
    coord = COORDINATE_TRANSFORMS[attrs["coordinate_transformation_mode"]](
        np.arange(m, dtype=t), t(scale), t(n), t(m), t(r0), t(r1))
    idx, weights = _taps(coord, n, scale, attrs)
    return idx, weights, (coord >= 0) & (coord <= n - 1)


@register("Resize", Pattern.INJECTIVE, _infer_resize)
def resize(x, **attrs):
    """Per axis: y = sum_t x.take(idx[:, t], axis) * weight[:, t]; with tf_crop_and_resize,
    outputs whose source lies outside the input are extrapolation_value."""
    rank, roi = x.ndim, attrs["roi"]
    y = x if attrs["mode"] == "nearest" else x.astype(np.promote_types(x.dtype, np.float32))
    inside = []
    for axis, (n, m, scale) in enumerate(zip(x.shape, attrs["sizes"], attrs["scales"])):
        if scale == 1.0:
            inside.append(np.ones(n, bool))
            continue
        idx, weights, valid = _axis_taps(n, m, scale, roi[axis], roi[rank + axis], attrs)
        inside.append(valid)
        picked = np.take(y, idx, axis=axis)                # axis becomes (m, taps)
        if weights is None:
            y = np.squeeze(picked, axis + 1)
        else:
            w = weights.reshape(weights.shape + (1,) * (rank - axis - 1))
            y = np.sum(picked * w, axis=axis + 1)
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        masks = (v.reshape((1,) * a + (-1,) + (1,) * (rank - a - 1)) for a, v in enumerate(inside))
        y = np.where(reduce(np.logical_and, masks), y, attrs["extrapolation_value"])
    return np.asarray(y).astype(x.dtype, copy=False)
