"""Sliding windows over the spatial axes of an (N, C, *spatial) tensor: the index arithmetic
that convolutions and pools share (attribute checks, output length, padding, and strided,
dilated window views), written once so Conv, MaxPool and AveragePool cannot disagree.

For one spatial axis of length L, kernel k, stride s, dilation d and pads (b, e), window i
reads padded positions i*s + j*d for j < k, and there are floor((L + b + e - span) / s) + 1
windows, span = (k - 1) * d + 1 (ceil instead of floor in pools' ceil_mode).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError
from .registry import TensorType


def ints(values, n: int, what: str, minimum: int) -> tuple[int, ...]:
    """Check an attribute is a tuple of `n` ints, each at least `minimum`."""
    if not isinstance(values, tuple) or not all(isinstance(v, int) for v in values):
        raise ShapeError(f"{what} must be a tuple of ints, given {values!r}")
    if len(values) != n:
        raise ShapeError(f"{what} has {len(values)} entries {list(values)}; expected {n} "
                         "(one per spatial axis)")
    if any(v < minimum for v in values):
        raise ShapeError(f"{what} {list(values)} has a value below {minimum}")
    return values


def spatial_rank(x: TensorType, what: str = "input") -> int:
    """Number of spatial axes of an (N, C, *spatial) input; at least one is required."""
    if len(x.shape) < 3:
        raise ShapeError(f"{what} has shape {list(x.shape)}; expected (N, C, *spatial) with at "
                         "least one spatial axis")
    return len(x.shape) - 2


def span(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def out_length(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
               dilation: int, ceil_mode: bool = False) -> int:
    """Windows along one axis. In ceil_mode a last partial window counts unless it would start
    in the end padding (ONNX Runtime's and PyTorch's rule)."""
    room = size + pad_begin + pad_end - span(kernel, dilation)
    if room < 0:
        return 0
    if not ceil_mode:
        return room // stride + 1
    n = -(-room // stride) + 1
    return n - 1 if (n - 1) * stride >= size + pad_begin else n


def check_window(x: TensorType, kernel: Sequence[int], strides, pads, dilations,
                 ceil_mode: bool = False, allow_empty: bool = False) -> tuple[int, ...]:
    """Validate window attributes against `x` and return the output's spatial shape; a
    window that fits nowhere is an error unless `allow_empty` (then 0 windows)."""
    nd = spatial_rank(x)
    ints(tuple(kernel), nd, "kernel_shape", 1)
    ints(strides, nd, "strides", 1)
    ints(dilations, nd, "dilations", 1)
    ints(pads, 2 * nd, "pads", 0)
    out = tuple(out_length(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[nd + i],
                           dilations[i], ceil_mode) for i in range(nd))
    if not allow_empty and any(o < 1 for o in out):
        raise ShapeError(f"window of kernel {list(kernel)}, dilations {list(dilations)} does not "
                         f"fit spatial shape {list(x.shape[2:])} padded by {list(pads)}")
    return out


def same_pads(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], upper: bool) -> tuple[int, ...]:
    """auto_pad SAME_UPPER/SAME_LOWER as explicit pads: output length ceil(L / s), the odd pad
    at the end (UPPER) or the beginning (LOWER)."""
    total = [max(0, (-(-n // s) - 1) * s + span(k, d) - n)
             for n, k, s, d in zip(sizes, kernel, strides, dilations)]
    begin = [t // 2 if upper else t - t // 2 for t in total]
    return tuple(begin) + tuple(t - b for t, b in zip(total, begin))


def pad_spatial(x: np.ndarray, pads: Sequence[int], value, extra: Sequence[int] = ()) -> np.ndarray:
    """Pad the spatial axes with `value`; `extra` adds more at each axis's end."""
    nd = x.ndim - 2
    extra = tuple(extra) or (0,) * nd
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[nd + i] + extra[i]) for i in range(nd)]
    if not any(b or e for b, e in widths):
        return x
    return np.pad(x, widths, constant_values=value)


def windows(xp: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int]) -> np.ndarray:
    """A view (N, C, *out, *kernel) of the padded input: element [..., o, j] = xp[o*s + j*d]."""
    nd = xp.ndim - 2
    spans = tuple(span(k, d) for k, d in zip(kernel, dilations))
    view = sliding_window_view(xp, spans, axis=tuple(range(2, 2 + nd)))
    step = tuple(slice(None, None, s) for s in strides) + tuple(slice(None, None, d)
                                                               for d in dilations)
    return view[(slice(None), slice(None)) + step]


def ceil_extra(sizes: Sequence[int], out: Sequence[int], kernel: Sequence[int], strides,
               pads, dilations) -> tuple[int, ...]:
    """End padding beyond `pads` that the last (ceil_mode) windows reach."""
    nd = len(sizes)
    return tuple(max(0, (out[i] - 1) * strides[i] + span(kernel[i], dilations[i])
                     - (sizes[i] + pads[i] + pads[nd + i])) for i in range(nd))
