"""Winograd conv2d template: the transform matrices, every config of its space against the
NumPy reference, edge shapes (sizes not multiples of the tile, pads, batch, channels not
multiples of the GEMM block, epilogues), and how it is selected: never by default, only by
a config naming it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conv_testing import conv_node, reference, run_conv
from tensorforge.compiler.lower import alternatives, lower_node
from tensorforge.compiler.topi.common import LoweringError
from tensorforge.compiler.templates.conv2d_winograd import CONV2D_WINOGRAD, MATRICES
from tensorforge.compiler.templates.registry import select_template

# Winograd's transforms multiply by up to 8 and divide by 24 (m = 4): its rounding error is
# ~1e-5 of the output scale on these sizes (the direct conv's is ~1e-7), so the tolerance is
# relative to the largest output, not to each element.
SCALE_TOL = {2: 2e-6, 4: 3e-5}


def close(got, want, m):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=SCALE_TOL[m] * scale)


@pytest.mark.parametrize("m", [2, 4])
def test_matrices_compute_the_correlation_exactly(m):
    """A^T [(G g G^T) * (B^T d B)] A is the 3x3 correlation of an alpha x alpha tile d."""
    M = {k: np.array(v, np.float64) for k, v in MATRICES[m].items()}
    rng = np.random.default_rng(m)
    d, g = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
    y = M["AT"] @ ((M["G"] @ g @ M["G"].T) * (M["BT"] @ d @ M["BT"].T)) @ M["AT"].T
    want = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


def _node(c=16, k=20, h=9, w=11, batch=1, pads=(1, 1, 1, 1), bias=True, seed=0):
    rng = np.random.default_rng(seed)
    wt = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32) if bias else None
    node = conv_node("Conv", (batch, c, h, w), wt, b, pads=pads)
    x = rng.standard_normal((batch, c, h, w)).astype(np.float32)
    return node, x


def _residual(node, seed=1):
    return np.random.default_rng(seed).standard_normal(node.outputs[0].shape).astype(np.float32)


def test_every_config_of_the_space():
    node, x = _node(c=32, k=40, h=10, w=13)
    want = reference(node, x, "relu")
    space = CONV2D_WINOGRAD.space(node)
    configs = [{"template": "conv2d_winograd", "m": m, "k_bn": kb, "p_bn": pb}
               for m in space["m"] for kb in space["k_bn"] for pb in space["p_bn"]]
    assert len(configs) == 2 * 2 * 6
    for config in configs:
        close(run_conv(node, x, CONV2D_WINOGRAD, config, "relu"), want, config["m"])


@settings(max_examples=25, deadline=None)
@given(c=st.sampled_from([16, 32, 48]), k=st.integers(1, 40), h=st.integers(1, 13),
       w=st.integers(1, 13), batch=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 2)] * 4), bias=st.booleans(), m=st.sampled_from([2, 4]),
       epilogue=st.sampled_from(["", "relu", "add_relu"]), seed=st.integers(0, 2**16))
def test_shapes_against_numpy(c, k, h, w, batch, pads, bias, m, epilogue, seed):
    if h + pads[0] + pads[2] < 3 or w + pads[1] + pads[3] < 3:
        return  # no output: the template does not apply (checked below)
    node, x = _node(c, k, h, w, batch, pads, bias, seed)
    residual = _residual(node, seed) if "add" in epilogue else None
    config = {**CONV2D_WINOGRAD.default(node), "m": m}
    got = run_conv(node, x, CONV2D_WINOGRAD, config, epilogue, residual)
    close(got, reference(node, x, epilogue, residual), m)


def test_applies_only_to_3x3_stride_1_dense_float32():
    assert CONV2D_WINOGRAD.applies(_node()[0])
    rng = np.random.default_rng(0)
    w3, w5 = rng.standard_normal((8, 16, 3, 3)), rng.standard_normal((8, 16, 5, 5))
    others = [conv_node("Conv", (1, 16, 9, 9), w3.astype(np.float32), strides=(2, 2)),
              conv_node("Conv", (1, 16, 9, 9), w3.astype(np.float32), dilations=(2, 2)),
              conv_node("Conv", (1, 16, 9, 9), w5.astype(np.float32)),
              conv_node("Conv", (1, 12, 9, 9), w3[:, :12].astype(np.float32)),  # 12 channels
              conv_node("Conv", (1, 16, 9, 9), w3.reshape(16, 8, 3, 3)[:8].astype(np.float32),
                        group=2)]
    assert not any(CONV2D_WINOGRAD.applies(n) for n in others)


def test_never_the_default_only_named_by_a_config():
    node, x = _node()
    assert select_template(node).name == "conv2d_nchwc"
    assert select_template(node, name="conv2d_winograd") is CONV2D_WINOGRAD
    assert alternatives(node, "llvm") == ["conv2d_winograd"]
    assert lower_node(node, "llvm").template == "conv2d_nchwc"
    kernel = lower_node(node, "llvm", CONV2D_WINOGRAD.default(node))
    assert kernel.template == "conv2d_winograd"
    strided = conv_node("Conv", (1, 16, 9, 9), np.ones((8, 16, 3, 3), np.float32), strides=(2, 2))
    assert alternatives(strided, "llvm") == []
    with pytest.raises(LoweringError, match="conv2d_winograd.*does not apply"):
        lower_node(strided, "llvm", CONV2D_WINOGRAD.default(node))


def test_lowered_kernel_scratch_is_workspace_not_heap():
    """V and M (and the padded input) are workspace params the arena holds: the kernel
    itself allocates nothing."""
    from tensorforge import codegen
    node, _ = _node(c=64, k=64, h=28, w=28)   # scratch too big for the stack
    kernel = lower_node(node, "llvm", CONV2D_WINOGRAD.default(node))
    names = sorted(v.name.split(".")[-1] for v in kernel.workspace)
    assert names == ["conv_input", "wino_m", "wino_v"]
    params = kernel.func.params[-3:]
    assert [p.shape for p in params] == [v.shape for v in kernel.workspace]
    assert "aligned_alloc" not in codegen.build(kernel.func, "llvm").source("llvm")
