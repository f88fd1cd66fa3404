"""Resize (opsets 10..19) and Upsample (opset 9) against ONNX Runtime: every mode, coordinate
transformation and nearest rounding, scales or sizes, roi, axes, keep_aspect_ratio_policy and
antialias.

ONNX Runtime interpolates linear and cubic only over the last two axes of a 4-D input (or a
2-D one), so those cases keep N and C unscaled; nearest runs on any axes. Where ONNX Runtime
departs from the spec (align_corners from scales whose resized length n * scale is
fractional: it divides by the rounded length), onnx.reference is the oracle."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from oracle import check_model, check_onnx_reference, check_op, single_op_model
from tensorforge.compiler import ShapeError

from nn_helpers import convert, randn

COORDINATE_MODES = {11: ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                         "tf_half_pixel_for_nn", "tf_crop_and_resize"],
                    13: ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                         "tf_crop_and_resize"]}
COORDINATE_MODES[18] = COORDINATE_MODES[13]
COORDINATE_MODES[19] = COORDINATE_MODES[13] + ["half_pixel_symmetric"]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
SCALES = [0.5, 0.6, 0.75, 1.0, 4 / 3, 1.5, 2.0, 2.5, 3.0]
EMPTY = np.zeros(0, np.float32)


def nonempty(n):
    """The scales that keep an axis of length n non-empty."""
    return [s for s in SCALES if int(np.float32(s) * np.float32(n)) >= 1]


def scaled_axes(draw, mode):
    """Input shape and which axes get resized."""
    if mode == "nearest":
        shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
        return shape, list(range(len(shape)))
    rank = draw(st.sampled_from([2, 4]))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    return shape, list(range(rank - 2, rank))


def resize_inputs(draw, shape, axes, coord, use_sizes):
    """(roi, scales, sizes) as ONNX inputs over all axes; unscaled axes keep scale 1."""
    scales = np.ones(len(shape), np.float32)
    sizes = np.array(shape, np.int64)
    for a in axes:
        if use_sizes:
            sizes[a] = draw(st.integers(1, 8))
        else:
            scales[a] = draw(st.sampled_from(nonempty(shape[a])))
    roi = np.array([0.0] * len(shape) + [1.0] * len(shape), np.float32)
    if coord == "tf_crop_and_resize":
        for a in axes:
            roi[a] = draw(st.sampled_from([0.0, 0.2, 0.5]))
            roi[len(shape) + a] = draw(st.sampled_from([0.6, 1.0, 1.3]))
    return roi, (EMPTY if use_sizes else scales), (sizes if use_sizes else None)


def fractional_length(shape, scales):
    """Whether the output shape differs from the input's (else both oracles copy the input) and
    some axis's resized length n * scale (float32, as the spec computes it) is fractional."""
    lengths = [np.float32(s) * np.float32(n) for n, s in zip(shape, scales)]
    return [int(m) for m in lengths] != list(shape) and any(m % 1 for m in lengths)


@given(st.data(), st.sampled_from(["nearest", "linear", "cubic"]),
       st.sampled_from([11, 13, 18, 19]), st.booleans())
def test_resize(data, mode, opset, use_sizes):
    """Nearest skips two corners where ONNX Runtime 1.32 rounds exact ties differently from its
    published float arithmetic (half_pixel_symmetric; asymmetric from sizes, round_prefer_ceil).
    Opset 18 adds antialias (linear and cubic downsampling)."""
    draw = data.draw
    shape, axes = scaled_axes(draw, mode)
    coord = draw(st.sampled_from(COORDINATE_MODES[opset]))
    assume(mode != "nearest" or coord != "half_pixel_symmetric")
    roi, scales, sizes = resize_inputs(draw, shape, axes, coord, use_sizes)
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if mode == "nearest":
        attrs["nearest_mode"] = draw(st.sampled_from(NEAREST_MODES))
        assume(not (use_sizes and coord == "asymmetric"
                    and attrs["nearest_mode"] == "round_prefer_ceil"))
    if mode == "cubic":
        attrs["cubic_coeff_a"] = draw(st.sampled_from([-0.75, -0.5]))
        attrs["exclude_outside"] = int(draw(st.booleans()))
    if coord == "tf_crop_and_resize":
        attrs["extrapolation_value"] = draw(st.sampled_from([0.0, -1.5]))
    if opset >= 18 and mode != "nearest" and draw(st.booleans()):
        attrs["antialias"] = 1
    dtype = draw(st.sampled_from([np.float32, np.float16]))
    inits = {"roi": roi, "scales": scales, **({"sizes": sizes} if use_sizes else {})}
    if opset >= 13 and coord != "tf_crop_and_resize" and draw(st.booleans()):
        inits["roi"] = EMPTY                       # opset 13: roi may be empty or omitted
    x = randn(draw, shape, dtype)
    model = single_op_model("Resize", {"x": x}, initializers=inits, opset=opset, **attrs)
    spec_only = coord == "align_corners" and not use_sizes and fractional_length(shape, scales)
    if spec_only:
        check_onnx_reference(model, {"x": x})
    else:
        check_model(model, {"x": x})


@given(st.data(), st.sampled_from(["linear", "cubic"]), st.sampled_from([18, 19]))
def test_resize_antialias_downsampling(data, mode, opset):
    """antialias=1: the filter widens by 1 / scale over more taps (all scales below 1 here)."""
    draw = data.draw
    shape = [1, 2, draw(st.integers(1, 9)), draw(st.integers(1, 9))]
    scales = [1, 1] + [draw(st.sampled_from([s for s in nonempty(n) if s < 1] or [1.0]))
                       for n in shape[2:]]
    attrs = {"mode": mode, "antialias": 1, "exclude_outside": int(draw(st.booleans())),
             "coordinate_transformation_mode": draw(st.sampled_from(
                 ["half_pixel", "pytorch_half_pixel", "asymmetric"]))}
    if mode == "cubic":
        attrs["cubic_coeff_a"] = draw(st.sampled_from([-0.75, -0.5]))
    check_op("Resize", {"x": randn(draw, shape)}, initializers={
        "roi": EMPTY, "scales": np.array(scales, np.float32)}, opset=opset, **attrs)


@given(st.data(), st.sampled_from(["nearest", "linear", "cubic"]), st.booleans())
def test_resize_align_corners_from_scales_divides_by_the_fractional_length(data, mode, alias):
    """align_corners maps x to x * (n - 1) / (n * scale - 1), n * scale unrounded (the spec,
    onnx.reference; ONNX Runtime 1.32 divides by the output length instead)."""
    draw = data.draw
    shape = [1, 1, draw(st.integers(2, 9)), draw(st.integers(2, 9))]
    scales = np.array([1, 1] + [draw(st.sampled_from([s for s in nonempty(n) if s != 1]))
                                for n in shape[2:]], np.float32)
    assume(fractional_length(shape, scales))
    attrs = {"antialias": 1} if alias and mode != "nearest" else {}
    x = randn(draw, shape)
    model = single_op_model("Resize", {"x": x}, initializers={"roi": EMPTY, "scales": scales},
                            opset=19, mode=mode, coordinate_transformation_mode="align_corners",
                            **attrs)
    check_onnx_reference(model, {"x": x})


@given(st.data(), st.sampled_from(["int8", "uint8", "int32"]), st.sampled_from(NEAREST_MODES))
def test_resize_nearest_integers(data, dtype, nearest_mode):
    draw = data.draw
    shape = [1, 2] + [draw(st.integers(1, 5)) for _ in range(2)]
    x = (randn(draw, shape) * 50).astype(dtype)
    scales = np.array([1, 1] + [draw(st.sampled_from(nonempty(n))) for n in shape[2:]],
                      np.float32)
    check_op("Resize", {"x": x}, initializers={"roi": EMPTY, "scales": scales},
             mode="nearest", nearest_mode=nearest_mode)


def test_resize_linear_integers_truncate():
    """Integer bilinear results truncate toward zero (the values ONNX Runtime computes)."""
    x = np.array([[[[0, 3, 10, 7, 100]]]], np.int8)
    want = check_op("Resize", {"x": x}, initializers={
        "roi": EMPTY, "scales": np.array([1, 1, 1, 2.5], np.float32)}, mode="linear")[0]
    np.testing.assert_array_equal(want.ravel(), [0, 0, 1, 2, 5, 7, 9, 8, 7, 34, 72, 100])


@given(st.data(), st.sampled_from(["nearest", "linear", "cubic"]),
       st.sampled_from(["stretch", "not_larger", "not_smaller"]), st.booleans())
def test_resize_axes_and_aspect_ratio(data, mode, policy, use_sizes):
    """Opset 18: scales/sizes/roi for the listed axes only; sizes under a policy keep the
    aspect ratio of the listed axes. (ONNX Runtime 1.32 mishandles a policy with negative
    axes, so those only come with "stretch".)"""
    draw = data.draw
    shape = [draw(st.integers(1, 5)) for _ in range(4)]
    axes = draw(st.sampled_from([[2, 3], [3, 2], [3]] + ([[-2, -1]] if policy == "stretch"
                                                          else [])))
    if use_sizes:
        sizes = [draw(st.integers(1, 8)) for _ in axes]
        ratios = [m / shape[a] for a, m in zip(axes, sizes)]
        ratio = min(ratios) if policy == "not_larger" else max(ratios)
        assume(policy == "stretch" or all(ratio * shape[a] >= 0.5 for a in axes))  # non-empty
        given_ = {"sizes": np.array(sizes, np.int64)}
        attrs = {"keep_aspect_ratio_policy": policy}
    else:
        given_ = {"scales": np.array([draw(st.sampled_from(nonempty(shape[a]))) for a in axes],
                                     np.float32)}
        attrs = {}
    order = ["x", "", "scales", ""] if "scales" in given_ else ["x", "", "", "sizes"]
    check_op("Resize", {"x": randn(draw, shape)}, initializers=given_, input_order=order,
             opset=18, axes=axes, mode=mode, **attrs)


@given(st.data(), st.sampled_from(["Resize", "Upsample"]), st.sampled_from(["nearest", "linear"]))
def test_resize_opset10_and_upsample9(data, op, mode):
    """Opset 10 (and Upsample-9, which only grows) use asymmetric coordinates; nearest rounds
    up on a shrinking axis and down on a growing one."""
    draw = data.draw
    shape = [1, 2, draw(st.integers(1, 6)), draw(st.integers(1, 6))]
    pick = [[s for s in nonempty(n) if op == "Resize" or s >= 1] for n in shape[2:]]
    scales = np.array([1, 1] + [draw(st.sampled_from(p)) for p in pick], np.float32)
    check_op(op, {"x": randn(draw, shape)}, initializers={"scales": scales},
             opset=10 if op == "Resize" else 9, mode=mode)


def test_resize_trilinear_5d():
    x = np.random.default_rng(0).standard_normal((1, 1, 3, 4, 5)).astype(np.float32)
    check_op("Resize", {"x": x}, initializers={
        "roi": EMPTY, "scales": np.array([1, 1, 2, 0.5, 1.5], np.float32)}, mode="linear")


# -- errors -----------------------------------------------------------------------------------

X = np.zeros((1, 1, 4, 4), np.float32)


def convert_resize(**attrs):
    inits = {"roi": EMPTY, "scales": np.array([1, 1, 2, 2], np.float32)}
    inits.update(attrs.pop("inits", {}))
    return convert("Resize", {"x": X}, inits, opset=18, **attrs)


def test_both_scales_and_sizes_is_an_error():
    with pytest.raises(ShapeError, match="exactly one of scales and sizes"):
        convert_resize(inits={"sizes": np.array([1, 1, 8, 8], np.int64)})


def test_scales_of_wrong_length():
    with pytest.raises(ShapeError, match=r"must hold 4 values"):
        convert_resize(inits={"scales": np.array([2, 2], np.float32)})


def test_resize_ir_has_resolved_sizes():
    (node,) = convert_resize(mode="linear").nodes
    assert node.attrs["sizes"] == (1, 1, 8, 8) and node.attrs["scales"] == (1.0, 1.0, 2.0, 2.0)
