"""Converters for Resize (opsets 10..19) and Upsample (opset 9): the scales, sizes and roi
inputs are read at import time and the output shape becomes the IR attribute `sizes`.

Arithmetic follows ONNX Runtime in float32: scales given -> output = trunc(scale * input);
sizes given -> scale = size / input; keep_aspect_ratio_policy (opset 18) -> one scale for the
listed axes, output = round(scale * input).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ops.registry import normalize_axis
from .registry import converter

f32 = np.float32


def _values(ctx, v, what: str) -> np.ndarray | None:
    """A 1-D compile-time input, or None when omitted or empty (the ONNX 'not given')."""
    if v is None:
        return None
    arr = np.asarray(ctx.value_of(v, what)).reshape(-1)
    return arr if arr.size else None


def _sizes_from_scales(shape, scales) -> tuple[int, ...]:
    return tuple(int(f32(s) * f32(n)) for s, n in zip(scales, shape))


def _emit(ctx, x, sizes, scales, mode, **attrs):
    """The IR Resize with every attribute present (defaults of the newest opset). An output
    shape equal to the input's is an Identity: ONNX Runtime returns the input unchanged then,
    whatever the scales, roi or coordinate mode say."""
    if any(s < 1 <= n for s, n in zip(sizes, x.shape)):  # an empty input stays empty
        raise ShapeError(f"{ctx.node.where}: scales {list(scales)} give an empty output shape "
                         f"{list(sizes)} for input {list(x.shape)}")
    if tuple(sizes) == tuple(x.shape):
        return ctx.emit1("Identity", [x])
    full = {"sizes": tuple(sizes), "scales": tuple(float(s) for s in scales), "mode": mode,
            "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_floor",
            "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0,
            "roi": (0.0,) * len(sizes) + (1.0,) * len(sizes), "antialias": 0}
    full.update(attrs)
    return ctx.emit1("Resize", [x], full)


@converter("Upsample", since=9)
@converter("Resize", since=10)
def convert_resize_v10(ctx, node):
    """Opset 10 (and Upsample-9): X and scales; asymmetric coordinates, ONNX Runtime's
    "simple" nearest rounding."""
    x = node.input(0)
    scales = _values(ctx, node.input(1), "scales")
    if scales is None or len(scales) != len(x.shape):
        raise ShapeError(f"{node.where}: scales must hold {len(x.shape)} values, "
                         f"given {scales}")
    return _emit(ctx, x, _sizes_from_scales(x.shape, scales), scales, node.attr("mode", "nearest"),
                 coordinate_transformation_mode="asymmetric", nearest_mode="simple")


def _resolve_axes(node, rank: int) -> list[int]:
    axes = node.attr("axes")
    if axes is None:
        return list(range(rank))
    axes = [normalize_axis(int(a), rank, "Resize axis") for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{node.where}: axes {list(node.attr('axes'))} repeat an axis")
    return axes


def _output_shape(node, shape, axes, scales, sizes):
    """Full-rank (sizes, scales) from the per-axis scales or sizes input."""
    out, full = list(shape), [1.0] * len(shape)
    given = sizes if sizes is not None else scales
    if given is None or (scales is not None and sizes is not None):
        raise ShapeError(f"{node.where}: exactly one of scales and sizes must be given")
    if len(given) != len(axes):
        raise ShapeError(f"{node.where}: {'sizes' if sizes is not None else 'scales'} "
                         f"{given.tolist()} must hold {len(axes)} values, one per axis")
    if scales is not None:
        for a, s in zip(axes, scales):
            full[a], out[a] = float(s), _sizes_from_scales([shape[a]], [s])[0]
        return out, full
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    ratios = [f32(int(m)) / f32(shape[a]) for a, m in zip(axes, sizes)]
    if policy == "stretch":
        for a, m, r in zip(axes, sizes, ratios):
            full[a], out[a] = float(r), int(m)
        return out, full
    if policy not in ("not_larger", "not_smaller"):
        raise ShapeError(f"{node.where}: keep_aspect_ratio_policy {policy!r} is not one of "
                         "['stretch', 'not_larger', 'not_smaller']")
    ratio = min(ratios) if policy == "not_larger" else max(ratios)
    for a in axes:
        full[a], out[a] = float(ratio), int(np.floor(ratio * f32(shape[a]) + f32(0.5)))
    return out, full


def _full_roi(ctx, node, rank: int, axes: list[int]) -> tuple[float, ...]:
    roi = _values(ctx, node.input(1), "roi")
    if roi is None:
        raise ShapeError(f"{node.where}: tf_crop_and_resize needs the roi input")
    if len(roi) != 2 * len(axes):
        raise ShapeError(f"{node.where}: roi {roi.tolist()} must hold {2 * len(axes)} values")
    full = [0.0] * rank + [1.0] * rank
    for i, a in enumerate(axes):
        full[a], full[rank + a] = float(f32(roi[i])), float(f32(roi[len(axes) + i]))
    return tuple(full)


@converter("Resize", since=11)
def convert_resize(ctx, node):
    """Opsets 11..19: X, roi, scales, sizes (optional inputs empty or omitted); opset 18 adds
    axes, keep_aspect_ratio_policy and antialias."""
    x = node.input(0)
    rank = len(x.shape)
    axes = _resolve_axes(node, rank)
    sizes, scales = _output_shape(node, x.shape, axes, _values(ctx, node.input(2), "scales"),
                                  _values(ctx, node.input(3), "sizes"))
    attrs = {k: node.attr(k, d) for k, d in (
        ("coordinate_transformation_mode", "half_pixel"), ("nearest_mode", "round_prefer_floor"),
        ("cubic_coeff_a", -0.75), ("exclude_outside", 0), ("extrapolation_value", 0.0),
        ("antialias", 0))}
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        attrs["roi"] = _full_roi(ctx, node, rank, axes)
    return _emit(ctx, x, sizes, scales, node.attr("mode", "nearest"), **attrs)
