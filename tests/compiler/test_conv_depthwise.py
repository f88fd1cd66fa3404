"""Depthwise conv2d template (row-vectorized, strided and padded reads straight from the
input) against the NumPy reference, over shapes, strides, dilations, channel multipliers and
tile configs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conv_testing import build_conv, conv_node, reference, run_conv
from tensorforge.compiler.templates.conv2d_depthwise import DEPTHWISE
from tensorforge.compiler.templates.registry import select_template

RTOL = ATOL = 1e-4  # at most 49 products per output, summed in another order


@st.composite
def depthwise_cases(draw, op="Conv"):
    c, mult = draw(st.integers(1, 20)), draw(st.sampled_from([1, 1, 2]))
    k = draw(st.sampled_from([1, 3, 3, 5, 7]))
    s, d = draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 1, 2]))
    pads = tuple(draw(st.integers(0, k // 2)) for _ in range(4))
    span = (k - 1) * d + 1
    h, w = (draw(st.integers(max(1, span - pads[i] - pads[i + 2]), span + 20)) for i in (0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    oc = c * mult
    b = rng.standard_normal(oc).astype("f4") if draw(st.booleans()) else None
    extra = {"output_padding": (0, 0)} if op == "ConvTranspose" else {}
    w_shape = (oc, 1, k, k) if op == "Conv" else (c, mult, k, k)
    node = conv_node(op, (draw(st.integers(1, 2)), c, h, w),
                     rng.standard_normal(w_shape).astype("f4"), b, strides=(s, s), pads=pads,
                     dilations=(d, d), group=c, **extra)
    x = rng.standard_normal(node.inputs[0].shape).astype("f4")
    return node, x, draw(st.sampled_from(["", "relu", "add_relu"]))


def _check(node, x, epilogue, config=None):
    residual = np.random.default_rng(0).standard_normal(node.outputs[0].shape).astype("f4")
    want = reference(node, x, epilogue, residual)
    got = run_conv(node, x, DEPTHWISE, config, epilogue, residual)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@given(depthwise_cases(), st.data())
def test_depthwise_matches_reference(case, data):
    node, x, epilogue = case
    if node.inputs[0].shape[1] == 1:  # one channel: an ordinary conv, not depthwise
        assert not DEPTHWISE.applies(node)
        return
    space = DEPTHWISE.space(node, None)
    _check(node, x, epilogue, {k: data.draw(st.sampled_from(v)) for k, v in space.items()})


@given(depthwise_cases(op="ConvTranspose"))
def test_depthwise_conv_transpose(case):
    node, x, epilogue = case
    if DEPTHWISE.applies(node):
        _check(node, x, epilogue)


@pytest.mark.parametrize("size,stride", [(112, 1), (23, 2), (14, 1), (7, 1), (15, 2)])
def test_mobilenet_like_default(size, stride):
    """MobileNetV2's 3x3 depthwise, pad 1, at default tiles (row tails, odd sizes)."""
    rng = np.random.default_rng(size)
    c = 19 if size > 50 else 37
    node = conv_node("Conv", (1, c, size, size), rng.standard_normal((c, 1, 3, 3)).astype("f4"),
                     rng.standard_normal(c).astype("f4"), strides=(stride,) * 2, pads=(1,) * 4,
                     group=c)
    assert select_template(node) is DEPTHWISE
    _check(node, rng.standard_normal((1, c, size, size)).astype("f4"), "relu")


def test_default_config_is_in_space():
    node = conv_node("Conv", (1, 32, 112, 112), np.ones((32, 1, 3, 3), "f4"), group=32)
    for target in ("llvm -mcpu=avx512", "llvm -mcpu=haswell"):
        config, space = DEPTHWISE.default(node, target), DEPTHWISE.space(node, target)
        assert all(config[k] in space[k] for k in config)


@pytest.mark.parametrize("size,stride,target,want", [
    (14, 2, "llvm -mcpu=avx512", (8, 7)),     # 7 columns: half a vector, all 7 rows
    (112, 1, "llvm -mcpu=avx512", (16, 8)),
    (56, 1, "llvm -mcpu=haswell", (8, 8)),
    (3, 1, "llvm -mcpu=avx512", (8, 3)),      # fewer rows than any row block
])
def test_default_tile_fits_the_output(size, stride, target, want):
    node = conv_node("Conv", (1, 32, size, size), np.ones((32, 1, 3, 3), "f4"),
                     strides=(stride,) * 2, pads=(1,) * 4, group=32)
    config = DEPTHWISE.default(node, target)
    assert (config["ow_bn"], config["oh_bn"]) == want


def test_strided_padded_input_is_read_in_place():
    """No input stage (no re-layout pass) and no gathers: padding becomes load masks, the
    stride contiguous loads + shuffles."""
    node = conv_node("Conv", (1, 16, 30, 30), np.ones((16, 1, 3, 3), "f4"), strides=(2, 2),
                     pads=(1,) * 4, group=16)
    kernel = build_conv(node, DEPTHWISE, target="llvm -mcpu=avx512")[0]
    assert "conv_input" not in kernel.source("tir")
    assert "gather" not in kernel.source("llvm")


@pytest.mark.parametrize("target,zmm", [("llvm -mcpu=avx512", True), ("llvm -mcpu=haswell", False)])
def test_depthwise_asm_vector_registers(target, zmm):
    node = conv_node("Conv", (1, 8, 30, 30), np.ones((8, 1, 3, 3), "f4"), pads=(1,) * 4, group=8)
    asm = build_conv(node, DEPTHWISE, target=target)[0].source("asm")
    assert "vfmadd" in asm and ("zmm" in asm) == zmm
