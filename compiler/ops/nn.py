"""Neural-network ops: convolutions, normalizations, LRN and depth/space shuffles.

Pools live in `pool.py` and Resize in `resize.py` (imported at the end of this file, so the
op table knows them). Every op takes an (N, C, *spatial) input. Convolutions are im2col plus
one batched matmul over groups, in at least float32, so real models (ResNet, MobileNet) run
through the reference executor in seconds; normalizations reduce in float64 and return the
input's dtype.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError
from .registry import FLOAT_TYPES, Pattern, TensorType, normalize_axis, register, require_dtype
from .window import check_window, ints, pad_spatial, span, spatial_rank, windows


def _compute_dtype(x: np.ndarray) -> np.dtype:
    """Matmul-heavy math runs in float32 at least (float16 in, float16 out)."""
    return np.promote_types(x.dtype, np.float32)


def _check_channels(params, shape: tuple[int, ...], op: str, names: str) -> None:
    for t, name in zip(params, names.split()):
        require_dtype(t, FLOAT_TYPES, f"{op} {name}")
        if t.shape != shape:
            raise ShapeError(f"{op} {name} has shape {list(t.shape)}; expected {list(shape)}")


def _check_group(group, channels: int, what: str) -> None:
    if not isinstance(group, int) or group < 1 or channels % group:
        raise ShapeError(f"group={group!r} must be a positive int dividing the {channels} "
                         f"{what} channels")


def _check_float_pair(x: TensorType, w: TensorType, op: str) -> None:
    require_dtype(x, FLOAT_TYPES, f"{op} input X")
    if w.dtype != x.dtype:
        raise ShapeError(f"{op} weight has dtype {w.dtype}; expected {x.dtype} like X")
    if len(w.shape) != len(x.shape):
        raise ShapeError(f"{op} weight has shape {list(w.shape)}; expected rank {len(x.shape)} "
                         f"like X {list(x.shape)}")


# -- Conv -----------------------------------------------------------------------------------

def _infer_conv(x, w, b=None, *, strides, pads, dilations, group):
    _check_float_pair(x, w, "Conv")
    spatial_rank(x, "Conv input X")
    _check_group(group, x.shape[1], "input")
    m, cg = w.shape[:2]
    if x.shape[1] != cg * group:
        raise ShapeError(f"Conv input has {x.shape[1]} channels; weight {list(w.shape)} with "
                         f"group={group} expects {cg * group}")
    _check_group(group, m, "output")
    if b is not None:
        _check_channels([b], (m,), "Conv", "bias")
    out = check_window(x, w.shape[2:], strides, pads, dilations)
    return TensorType((x.shape[0], m) + out, x.dtype)


@register("Conv", Pattern.OUT_ELEMWISE_FUSABLE, _infer_conv)
def conv(x, w, b=None, *, strides, pads, dilations, group):
    """im2col + matmul per group:
    y[n, g*Mg + m, o] = sum_{c < Cg, j} xpad[n, g*Cg + c, o*s + j*d] * w[g*Mg + m, c, j] + b"""
    dt = _compute_dtype(x)
    n, nd, kernel = x.shape[0], x.ndim - 2, w.shape[2:]
    win = windows(pad_spatial(x.astype(dt, copy=False), pads, 0), kernel, strides, dilations)
    out = win.shape[2:2 + nd]
    cg, mg = w.shape[1], w.shape[0] // group
    # (N, G, Cg, *out, *K) -> (G, N, *out, Cg, *K) -> (G, N*out, Cg*K): the im2col matrix
    cols = win.reshape((n, group, cg) + win.shape[2:])
    cols = cols.transpose((1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd)))
    cols = cols.reshape(group, n * math.prod(out), cg * math.prod(kernel))
    wmat = w.astype(dt, copy=False).reshape(group, mg, -1).transpose(0, 2, 1)
    y = np.matmul(cols, wmat).reshape((group, n) + out + (mg,))
    y = np.ascontiguousarray(np.moveaxis(y, (0, -1), (1, 2))).reshape((n, group * mg) + out)
    if b is not None:
        y += b.astype(dt).reshape((-1,) + (1,) * nd)
    return y.astype(x.dtype, copy=False)


# -- ConvTranspose --------------------------------------------------------------------------

def _infer_conv_transpose(x, w, b=None, *, strides, pads, dilations, group, output_padding):
    _check_float_pair(x, w, "ConvTranspose")
    nd = spatial_rank(x, "ConvTranspose input X")
    if w.shape[0] != x.shape[1]:
        raise ShapeError(f"ConvTranspose weight {list(w.shape)} expects {w.shape[0]} input "
                         f"channels; X {list(x.shape)} has {x.shape[1]}")
    _check_group(group, x.shape[1], "input")
    m = w.shape[1] * group
    if b is not None:
        _check_channels([b], (m,), "ConvTranspose", "bias")
    kernel = w.shape[2:]
    ints(kernel, nd, "kernel_shape", 1)
    ints(strides, nd, "strides", 1)
    ints(dilations, nd, "dilations", 1)
    ints(pads, 2 * nd, "pads", 0)
    ints(output_padding, nd, "output_padding", 0)
    out = tuple(strides[i] * (x.shape[2 + i] - 1) + output_padding[i]
                + span(kernel[i], dilations[i]) - pads[i] - pads[nd + i] for i in range(nd))
    if any(o < 1 for o in out):
        raise ShapeError(f"ConvTranspose pads {list(pads)} leave output shape {list(out)}")
    return TensorType((x.shape[0], m) + out, x.dtype)


@register("ConvTranspose", Pattern.OUT_ELEMWISE_FUSABLE, _infer_conv_transpose)
def conv_transpose(x, w, b=None, *, strides, pads, dilations, group, output_padding):
    """Matmul per group, then col2im: each kernel tap j scatters into positions i*s + j*d of a
    full-size output, which the pads then crop:
    full[n, g*Mg + m, i*s + j*d] += sum_{c < Cg} x[n, g*Cg + c, i] * w[g*Cg + c, m, j]"""
    dt = _compute_dtype(x)
    n, c, *sizes = x.shape
    nd, kernel, mg = x.ndim - 2, w.shape[2:], w.shape[1]
    xm = x.astype(dt, copy=False).reshape(n, group, c // group, -1).transpose(1, 0, 3, 2)
    xm = xm.reshape(group, -1, c // group)
    cols = np.matmul(xm, w.astype(dt, copy=False).reshape(group, c // group, -1))
    # (G, N, *in, Mg, *K) -> (N, G, Mg, *K, *in): one (N, G, Mg, *in) block per kernel tap
    cols = cols.reshape((group, n, *sizes, mg) + kernel)
    cols = cols.transpose((1, 0, 1 + nd + 1, *range(3 + nd, 3 + 2 * nd), *range(2, 2 + nd)))
    full = [strides[i] * (sizes[i] - 1) + span(kernel[i], dilations[i]) + output_padding[i]
            for i in range(nd)]
    y = np.zeros((n, group, mg, *full), dt)
    for tap in np.ndindex(*kernel):
        dst = tuple(slice(j * d, j * d + s * (size - 1) + 1, s)
                    for j, d, s, size in zip(tap, dilations, strides, sizes))
        y[(Ellipsis,) + dst] += cols[(slice(None),) * 3 + tap]
    crop = tuple(slice(pads[i], full[i] - pads[nd + i]) for i in range(nd))
    y = y.reshape((n, group * mg, *full))[(Ellipsis,) + crop]
    if b is not None:
        y = y + b.astype(dt).reshape((-1,) + (1,) * nd)
    return np.ascontiguousarray(y, dtype=x.dtype)


# -- normalizations -------------------------------------------------------------------------

def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Per-channel parameters broadcast along axis 1."""
    return (-1,) + (1,) * (x.ndim - 2)


def _infer_batch_norm(x, scale, b, mean, var, *, epsilon):
    require_dtype(x, FLOAT_TYPES, "BatchNormalization input X")
    if len(x.shape) < 2:
        raise ShapeError(f"BatchNormalization input has shape {list(x.shape)}; "
                         "expected (N, C, ...)")
    _check_channels([scale, b, mean, var], (x.shape[1],), "BatchNormalization",
                    "scale B input_mean input_var")
    return x


@register("BatchNormalization", Pattern.BROADCAST, _infer_batch_norm)
def batch_norm(x, scale, b, mean, var, *, epsilon):
    """Inference: y = (x - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1)."""
    inv = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    shift = b - mean * inv
    shape = _channel_shape(x)
    return (x * inv.reshape(shape) + shift.reshape(shape)).astype(x.dtype)


def _normalize(x: np.ndarray, axes: tuple[int, ...], epsilon: float):
    """(x - mean) * inv_std over `axes`, in float64; also returns mean and inv_std."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    centered = x64 - mean
    inv_std = 1.0 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + epsilon)
    return centered * inv_std, mean, inv_std


def _infer_instance_norm(x, scale, b, *, epsilon):
    require_dtype(x, FLOAT_TYPES, "InstanceNormalization input X")
    spatial_rank(x, "InstanceNormalization input X")
    _check_channels([scale, b], (x.shape[1],), "InstanceNormalization", "scale B")
    return x


@register("InstanceNormalization", Pattern.REDUCTION, _infer_instance_norm)
def instance_norm(x, scale, b, *, epsilon):
    """y = scale * (x - mean) / sqrt(var + epsilon) + B, statistics per (n, c)."""
    y, _, _ = _normalize(x, tuple(range(2, x.ndim)), epsilon)
    shape = _channel_shape(x)
    return (y * scale.reshape(shape) + b.reshape(shape)).astype(x.dtype)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether `shape` broadcasts to `target` without changing it (unidirectional)."""
    return len(shape) <= len(target) and all(
        s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


def _infer_layer_norm(x, scale, b=None, *, axis, epsilon, stats_dtype=""):
    require_dtype(x, FLOAT_TYPES, "LayerNormalization input X")
    rank = len(x.shape)
    axis = normalize_axis(axis, rank)
    normalized = x.shape[axis:]
    for t, name in ((scale, "scale"), (b, "B")):
        if t is not None and not _broadcasts_to(t.shape, normalized):
            raise ShapeError(f"LayerNormalization {name} has shape {list(t.shape)}; expected "
                             f"one that broadcasts to the normalized shape {list(normalized)}")
    if not stats_dtype:
        return x
    stats = TensorType(x.shape[:axis] + (1,) * (rank - axis), stats_dtype)
    return x, stats, stats


@register("LayerNormalization", Pattern.REDUCTION, _infer_layer_norm)
def layer_norm(x, scale, b=None, *, axis, epsilon, stats_dtype=""):
    """y = (x - mean) / sqrt(var + epsilon) * scale + B over axes [axis, rank); with
    `stats_dtype` set, also the mean and 1/sqrt(var + epsilon) (ONNX's extra outputs)."""
    axis = normalize_axis(axis, x.ndim)
    y, mean, inv_std = _normalize(x, tuple(range(axis, x.ndim)), epsilon)
    y = y * scale
    if b is not None:
        y = y + b
    y = y.astype(x.dtype)
    if not stats_dtype:
        return y
    return y, mean.astype(stats_dtype), inv_std.astype(stats_dtype)


def _infer_lrn(x, *, size, alpha, beta, bias):
    require_dtype(x, FLOAT_TYPES, "LRN input X")
    spatial_rank(x, "LRN input X")
    if not isinstance(size, int) or size < 1:
        raise ShapeError(f"LRN size must be a positive int, given {size!r}")
    return x


@register("LRN", Pattern.REDUCTION, _infer_lrn)
def lrn(x, *, size, alpha, beta, bias):
    """y[c] = x[c] / (bias + alpha / size * sum of x[c']^2 for c' in
    [c - floor((size-1)/2), c + ceil((size-1)/2)]) ** beta"""
    sq = np.square(x.astype(np.float64))
    before = (size - 1) // 2
    padded = np.pad(sq, [(0, 0), (before, size - 1 - before)] + [(0, 0)] * (x.ndim - 2))
    sums = sliding_window_view(padded, size, axis=1).sum(axis=-1)
    return (x / (bias + alpha / size * sums) ** beta).astype(x.dtype)


# -- DepthToSpace, SpaceToDepth -------------------------------------------------------------

DEPTH_TO_SPACE_MODES = ("DCR", "CRD")


def _check_block(x: TensorType, blocksize, op: str) -> None:
    if len(x.shape) != 4:
        raise ShapeError(f"{op} input has shape {list(x.shape)}; expected rank 4 (N, C, H, W)")
    if not isinstance(blocksize, int) or blocksize < 1:
        raise ShapeError(f"{op} blocksize must be a positive int, given {blocksize!r}")


def _infer_depth_to_space(x, *, blocksize, mode):
    _check_block(x, blocksize, "DepthToSpace")
    if mode not in DEPTH_TO_SPACE_MODES:
        raise ShapeError(f"DepthToSpace mode {mode!r} is not one of {list(DEPTH_TO_SPACE_MODES)}")
    n, c, h, w = x.shape
    if c % (blocksize * blocksize):
        raise ShapeError(f"DepthToSpace: {c} channels are not divisible by blocksize^2 = "
                         f"{blocksize * blocksize}")
    return TensorType((n, c // blocksize ** 2, h * blocksize, w * blocksize), x.dtype)


@register("DepthToSpace", Pattern.INJECTIVE, _infer_depth_to_space)
def depth_to_space(x, *, blocksize, mode):
    """DCR reads channels as (block_h, block_w, C'); CRD as (C', block_h, block_w)."""
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        y = x.reshape(n, b, b, c // b ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // b ** 2, b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // b ** 2, h * b, w * b)


def _infer_space_to_depth(x, *, blocksize):
    _check_block(x, blocksize, "SpaceToDepth")
    n, c, h, w = x.shape
    if h % blocksize or w % blocksize:
        raise ShapeError(f"SpaceToDepth: spatial shape {[h, w]} is not divisible by "
                         f"blocksize {blocksize}")
    return TensorType((n, c * blocksize ** 2, h // blocksize, w // blocksize), x.dtype)


@register("SpaceToDepth", Pattern.INJECTIVE, _infer_space_to_depth)
def space_to_depth(x, *, blocksize):
    """The inverse of DepthToSpace in DCR order: channels become (block_h, block_w, C)."""
    n, c, h, w = x.shape
    b = blocksize
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)
