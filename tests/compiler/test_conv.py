"""Conv / ConvTranspose: the generic TE computes and the conv2d (NCHWc-blocked) template,
built with codegen for the host and compared with the NumPy reference (compiler.ops)."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conv_testing import build_conv, conv_node, reference, run_conv
from tensorforge.compiler.te import TEError
from tensorforge.compiler.templates.conv2d import CONV2D
from tensorforge.compiler.templates.registry import select_template
from tensorforge.compiler.topi.conv import geometry

# float32 sums of up to ~1000 products, accumulated in another order than the reference's matmul
RTOL = ATOL = 1e-4


@st.composite
def conv_cases(draw, op="Conv", rank=2):
    """(node, x, epilogue): batch 1-2, channels not multiples of the vector width, odd sizes,
    kernels 1/3/5/7, strides and dilations 1/2, asymmetric pads, groups, optional bias."""
    group = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg, mg = draw(st.integers(1, 7)), draw(st.integers(1, 9))
    kernel = tuple(draw(st.sampled_from([1, 3, 5, 7])) for _ in range(rank))
    dil = tuple(draw(st.sampled_from([1, 2])) for _ in range(rank))
    strides = tuple(draw(st.sampled_from([1, 2])) for _ in range(rank))
    pads = tuple(draw(st.integers(0, k // 2)) for k in kernel * 2)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    size = tuple(draw(st.integers(max(1, s - pads[i] - pads[rank + i]), s + 6))
                 for i, s in enumerate(span))
    batch = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    if op == "Conv":
        w_shape, oc = (group * mg, cg) + kernel, group * mg
        extra = {}
    else:
        w_shape, oc = (group * cg, mg) + kernel, group * mg
        extra = {"output_padding": tuple(draw(st.integers(0, s - 1)) for s in strides)}
    w = rng.standard_normal(w_shape).astype("f4")
    b = rng.standard_normal(oc).astype("f4") if draw(st.booleans()) else None
    node = conv_node(op, (batch, group * cg) + size, w, b, strides=strides, pads=pads,
                     dilations=dil, group=group, **extra)
    x = rng.standard_normal((batch, group * cg) + size).astype("f4")
    return node, x, draw(st.sampled_from(["", "relu", "add_relu"]))


def _check(node, x, epilogue, template=None, config=None):
    residual = np.random.default_rng(0).standard_normal(node.outputs[0].shape).astype("f4")
    want = reference(node, x, epilogue, residual)
    got = run_conv(node, x, template, config, epilogue, residual)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@given(conv_cases(rank=1))
def test_generic_conv1d_matches_reference(case):
    _check(*case)


@given(conv_cases())
def test_generic_conv2d_matches_reference(case):
    _check(*case)


@given(conv_cases(op="ConvTranspose"))
def test_generic_conv_transpose_matches_reference(case):
    _check(*case)


def _config(draw, node):
    """Any point of the template's space that applies to the node."""
    space = CONV2D.space(node, None)
    return {k: draw(st.sampled_from(v)) for k, v in space.items()}


@given(conv_cases(), st.data())
def test_conv2d_template_matches_reference(case, data):
    node, x, epilogue = case
    if CONV2D.applies(node):
        _check(node, x, epilogue, CONV2D, _config(data.draw, node))


@given(conv_cases(op="ConvTranspose"), st.data())
def test_conv2d_template_runs_conv_transpose(case, data):
    node, x, epilogue = case
    if CONV2D.applies(node):
        _check(node, x, epilogue, CONV2D, _config(data.draw, node))


@pytest.mark.parametrize("shape,k,stride,pad", [
    ((1, 64, 14, 14), 3, 1, 1),      # ResNet body: 14 columns = one register tile
    ((1, 3, 23, 23), 7, 2, 3),       # stem-like: 3 input channels
    ((2, 17, 9, 30), 1, 2, 0),       # 1x1 downsample, odd channels, column tail
    ((1, 24, 7, 7), 3, 1, 1),        # 7x7 map: two vectors of channels (20 of 32 used)
    ((1, 3, 30, 30), 7, 2, 3),       # stem: 8 columns x 2 vectors
])
def test_conv2d_template_default_config(shape, k, stride, pad):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((20, shape[1], k, k)).astype("f4")
    node = conv_node("Conv", shape, w, rng.standard_normal(20).astype("f4"),
                     strides=(stride,) * 2, pads=(pad,) * 4)
    assert select_template(node) is CONV2D
    _check(node, rng.standard_normal(shape).astype("f4"), "relu", CONV2D)


def test_default_config_is_in_space_and_fits_registers():
    node = conv_node("Conv", (1, 64, 56, 56), np.ones((64, 64, 3, 3), "f4"), pads=(1,) * 4)
    for target, lanes in (("llvm -mcpu=avx512", 16), ("llvm -mcpu=haswell", 8)):
        config, space = CONV2D.default(node, target), CONV2D.space(node, target)
        assert all(config[k] in space[k] for k in config)
        regs = 32 if lanes == 16 else 16
        assert config["ow_bn"] * config["oc_bn"] // lanes + 2 <= regs


AVX512, HASWELL = "llvm -mcpu=avx512", "llvm -mcpu=haswell"


@pytest.mark.parametrize("x_shape,w_shape,stride,target,want", [
    ((1, 64, 56, 56), (64, 64, 3, 3), 1, AVX512, (16, 14)),    # ResNet body: 14 accumulators
    ((1, 512, 7, 7), (512, 512, 3, 3), 1, AVX512, (32, 7)),    # 7 columns: 2 vectors of oc
    ((1, 16, 112, 112), (96, 16, 1, 1), 1, AVX512, (32, 14)),  # 1x1: short reduction
    ((1, 24, 56, 56), (144, 24, 1, 1), 1, AVX512, (16, 14)),   # 144 = 4.5 x 32: would pad
    ((1, 3, 224, 224), (64, 3, 7, 7), 2, AVX512, (32, 8)),     # stem
    ((1, 512, 7, 7), (512, 512, 3, 3), 1, HASWELL, (8, 7)),    # AVX2: 16 registers
    ((1, 64, 56, 56), (64, 64, 3, 3), 1, HASWELL, (8, 8)),
    ((1, 64, 29, 29), (64, 64, 3, 3), 1, AVX512, (16, 10)),    # prime width: least padding
    ((1, 64, 30, 30), (64, 64, 3, 3), 1, AVX512, (16, 10)),    # a divisor: no guarded tail
])
def test_default_channel_and_column_blocks(x_shape, w_shape, stride, target, want):
    node = conv_node("Conv", x_shape, np.ones(w_shape, "f4"), strides=(stride,) * 2,
                     pads=(w_shape[2] // 2,) * 4)
    config, space = CONV2D.default(node, target), CONV2D.space(node, target)
    assert (config["oc_bn"], config["ow_bn"]) == want
    assert all(config[k] in space[k] for k in config)


def test_wide_channel_block_stores_without_scatters():
    """oc_bn = 2 vectors: the tile is stored one vector of channels at a time, each an
    [ow x lanes] tile the backend transposes into contiguous row stores."""
    node = conv_node("Conv", (1, 16, 12, 12), np.ones((96, 16, 1, 1), "f4"))
    kernel, _ = build_conv(node, CONV2D, {"oc_bn": 32, "ow_bn": 12, "unroll_kw": False},
                           target=AVX512)
    assert "scatter" not in kernel.source("llvm")


def test_grouped_conv_rejects_block_not_dividing_group_channels():
    node = conv_node("Conv", (1, 8, 5, 5), np.ones((8, 4, 3, 3), "f4"), group=2)
    holders = [None, None]
    with pytest.raises(TEError, match="oc_bn=16 must divide the 4 output channels"):
        CONV2D.compute(node, holders, {"oc_bn": 16, "ow_bn": 4})


def test_template_needs_constant_weights_and_2d():
    node = conv_node("Conv", (1, 4, 9), np.ones((4, 4, 3), "f4"))
    assert not CONV2D.applies(node)  # 1-D: the generic compute handles it
    assert geometry(node).out_size == (7,)


def _inner_loop(asm: str) -> str:
    """The block with the most FMAs: the reduction loop of the register tile."""
    return max(re.split(r"\n\.LBB\S+:", asm), key=lambda blk: blk.count("vfmadd"))


@pytest.mark.parametrize("target,zmm", [("llvm -mcpu=avx512", True), ("llvm -mcpu=haswell", False)])
def test_conv2d_asm_vector_registers(target, zmm):
    """Compile-only: any host. AVX-512 FMAs on zmm; Haswell has none."""
    node = conv_node("Conv", (1, 32, 14, 14), np.ones((32, 32, 3, 3), "f4"), pads=(1,) * 4)
    kernel, _ = build_conv(node, CONV2D, target=target, epilogue="relu")
    loop = _inner_loop(kernel.source("asm"))
    assert loop.count("vfmadd") >= 6
    assert ("zmm" in loop) == zmm and ("zmm" in kernel.source("asm")) == zmm


def test_every_knob_value_is_its_own_loop_nest():
    """No knob of the space is inert: each value of each knob, the others at the default,
    lowers to a different loop nest."""
    node = conv_node("Conv", (1, 32, 14, 14), np.ones((32, 32, 3, 3), "f4"), pads=(1,) * 4)
    default, space = CONV2D.default(node, AVX512), CONV2D.space(node, AVX512)
    for knob, values in space.items():
        nests = {build_conv(node, CONV2D, {**default, knob: v}, AVX512)[0].source("tir")
                 for v in values}
        assert len(nests) == len(values), knob


@pytest.mark.parametrize("config", [
    {"oc_bn": 32, "ow_bn": 4, "oh_bn": 4, "ic_bn": 5, "outer": "oh_oc", "unroll_kw": True},
    {"oc_bn": 16, "ow_bn": 7, "oh_bn": 2, "ic_bn": 10, "outer": "oc_oh", "unroll_kw": False},
])
def test_row_and_channel_blocks_with_tails(config):
    """oh_bn not dividing the rows (guarded store, zero-extended input), ic_bn splitting the
    channels, two row blocks per parallel step."""
    rng = np.random.default_rng(3)
    node = conv_node("Conv", (2, 10, 9, 11), rng.standard_normal((40, 10, 3, 3)).astype("f4"),
                     rng.standard_normal(40).astype("f4"), pads=(1, 0, 1, 2))
    _check(node, rng.standard_normal((2, 10, 9, 11)).astype("f4"), "add_relu", CONV2D, config)
