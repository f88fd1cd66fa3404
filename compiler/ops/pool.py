"""Pooling ops: MaxPool, AveragePool, LpPool and their global forms.

A pool reduces each window of `window.windows` over the padded input. Padding holds the
reduction's identity (the lowest value for max, 0 for sums), and so do the cells that
ceil_mode's last windows reach past the padding. AveragePool divides by how many window taps
fall on the input (or on input and explicit pads, with count_include_pad), counted by pooling
a mask of ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .reduce import first_elements, nan_if_first
from .registry import FLOAT_TYPES, Pattern, TensorType, register, require_dtype
from .window import ceil_extra, check_window, pad_spatial, spatial_rank, windows

MAXPOOL_TYPES = FLOAT_TYPES | {"int8", "uint8"}


def _require_nonempty_windows(x: TensorType, op: str) -> None:
    """ONNX Runtime pools an input with no spatial elements only when N is 0 (its own
    "Invalid input shape. Only N can be zero"): a window over nothing has no value."""
    if 0 in x.shape[2:] and x.shape[0] != 0:
        raise ShapeError(f"{op} input X {list(x.shape)} has an empty spatial axis: there is "
                         "nothing to pool (only N may be 0)")


def _infer_pool(x, *, kernel_shape, strides, pads, dilations, ceil_mode, allowed, op):
    """With N == 0 the output is empty whatever its spatial lengths, and ORT gives a window
    that fits nowhere (an empty spatial axis, kernel 1) length 0 rather than an error."""
    require_dtype(x, allowed, f"{op} input X")
    _require_nonempty_windows(x, op)
    out = check_window(x, kernel_shape, strides, pads, dilations, bool(ceil_mode),
                       allow_empty=x.shape[0] == 0)
    if any(p >= k for p, k in zip(pads, kernel_shape * 2)):
        raise ShapeError(f"{op} pads {list(pads)} must be smaller than kernel_shape "
                         f"{list(kernel_shape)}")
    return TensorType(x.shape[:2] + out, x.dtype)


def _pool_view(x, fill, *, kernel_shape, strides, pads, dilations, ceil_mode, ceil_fill=None):
    """(N, C, *out, *kernel) windows over `x` padded with `fill`, and with `ceil_fill` (default
    `fill`) where ceil_mode's last windows reach past the padding."""
    t = TensorType(x.shape, str(x.dtype))
    out = check_window(t, kernel_shape, strides, pads, dilations, bool(ceil_mode))
    extra = ceil_extra(x.shape[2:], out, kernel_shape, strides, pads, dilations)
    xp = pad_spatial(x, pads, fill)
    if any(extra):
        xp = pad_spatial(xp, (0,) * len(pads), fill if ceil_fill is None else ceil_fill, extra)
    return windows(xp, kernel_shape, strides, dilations)


def _kernel_axes(nd: int) -> tuple[int, ...]:
    return tuple(range(-nd, 0))


def _lowest(dtype: np.dtype):
    """MaxPool's padding and start, which a window lying wholly in the padding (or holding
    only -inf) returns: as in ONNX Runtime, the lowest finite value, except float16 (computed
    in float32) gets -inf."""
    if dtype.kind != "f":
        return np.iinfo(dtype).min
    return -np.inf if dtype.itemsize < 4 else np.finfo(dtype).min


def _infer_max_pool(x, **attrs):
    return _infer_pool(x, **attrs, allowed=MAXPOOL_TYPES, op="MaxPool")


@register("MaxPool", Pattern.REDUCTION, _infer_max_pool)
def max_pool(x, **attrs):
    """y[n, c, o] = max_j xpad[n, c, o*s + j*d], NaN-skipping but for a NaN at the window's
    first tap on the input (reduce.nan_if_first: ONNX Runtime's scan order)."""
    nd = x.ndim - 2
    view = _pool_view(x, _lowest(x.dtype), **attrs)
    total = np.fmax.reduce(view, axis=_kernel_axes(nd), initial=_lowest(x.dtype))
    inside = _pool_view(np.ones(x.shape, bool), False, **attrs)
    flat = view.reshape(view.shape[:-nd] + (-1,))
    first_tap = np.argmax(inside.reshape(flat.shape), axis=-1)[..., None]
    return nan_if_first(np.take_along_axis(flat, first_tap, axis=-1), total)


def _infer_average_pool(x, *, count_include_pad, **attrs):
    return _infer_pool(x, **attrs, allowed=FLOAT_TYPES, op="AveragePool")


@register("AveragePool", Pattern.REDUCTION, _infer_average_pool)
def average_pool(x, *, count_include_pad, **attrs):
    """y[n, c, o] = sum_j xpad[n, c, o*s + j*d] / (taps on the input, or on input and pads)."""
    axes = _kernel_axes(x.ndim - 2)
    sums = _pool_view(x.astype(np.float64), 0.0, **attrs).sum(axis=axes)
    mask = np.ones((1, 1) + x.shape[2:])
    counts = _pool_view(mask, float(count_include_pad), **attrs, ceil_fill=0.0).sum(axis=axes)
    # a window wholly in the padding averages nothing: 0, as in ONNX Runtime
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).astype(x.dtype)


def _infer_lp_pool(x, *, p, **attrs):
    _check_p(p)
    return _infer_pool(x, **attrs, allowed=FLOAT_TYPES, op="LpPool")


def _check_p(p) -> None:
    if not isinstance(p, int) or p < 1:
        raise ShapeError(f"LpPool p must be a positive int, given {p!r}")


@register("LpPool", Pattern.REDUCTION, _infer_lp_pool)
def lp_pool(x, *, p, **attrs):
    """y[n, c, o] = (sum_j |xpad[n, c, o*s + j*d]|^p)^(1/p), zero padding."""
    view = _pool_view(np.abs(x.astype(np.float64)), 0.0, **attrs)
    return (np.sum(view ** p, axis=_kernel_axes(x.ndim - 2)) ** (1.0 / p)).astype(x.dtype)


# -- global pools ---------------------------------------------------------------------------

def _infer_global(x, **attrs):
    require_dtype(x, FLOAT_TYPES, "global pool input X")
    nd = spatial_rank(x)
    _require_nonempty_windows(x, "global pool")
    if "p" in attrs:
        _check_p(attrs["p"])
    return TensorType(x.shape[:2] + (1,) * nd, x.dtype)


def _spatial_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@register("GlobalAveragePool", Pattern.REDUCTION, _infer_global)
def global_average_pool(x):
    return x.mean(axis=_spatial_axes(x), keepdims=True, dtype=np.float64).astype(x.dtype)


@register("GlobalMaxPool", Pattern.REDUCTION, _infer_global)
def global_max_pool(x):
    """From the lowest finite value, as MaxPool (ORT's pools start there: a plane of -inf
    gives -3.4e38), NaN-skipping but for a NaN first element (reduce.nan_if_first)."""
    axes = _spatial_axes(x)
    total = np.fmax.reduce(x, axis=axes, keepdims=True, initial=_lowest(x.dtype))
    return nan_if_first(first_elements(x, axes), total)


@register("GlobalLpPool", Pattern.REDUCTION, _infer_global)
def global_lp_pool(x, *, p):
    sums = np.sum(np.abs(x.astype(np.float64)) ** p, axis=_spatial_axes(x), keepdims=True)
    return (sums ** (1.0 / p)).astype(x.dtype)
