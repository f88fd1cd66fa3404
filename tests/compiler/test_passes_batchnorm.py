"""fold_batchnorm: BatchNormalization folds into Conv/Gemm/MatMul weights or becomes Mul+Add."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.passes import eliminate_dead_code, fold_batchnorm

from passes_testing import assert_equivalent, ops


def bn_params(b, channels, rng, dtype="float32"):
    scale, shift, mean = (rng.standard_normal(channels).astype(dtype) for _ in range(3))
    var = (rng.random(channels) + 0.1).astype(dtype)
    return [b.const(a, n) for a, n in zip((scale, shift, mean, var), "sbmv")]


def batchnorm(b, x, rng, epsilon=1e-5, dtype="float32"):
    return b.emit1("BatchNormalization", [x, *bn_params(b, x.shape[1], rng, dtype)],
                   {"epsilon": epsilon}, out_name="bn")


def folded(g):
    return eliminate_dead_code(fold_batchnorm(g).verify()).verify()


def conv(b, x, w, bias=None, group=1, pads=None):
    nd = len(w.shape) - 2
    return b.emit1("Conv", [x, w] + ([bias] if bias is not None else []),
                   {"strides": (1,) * nd, "pads": pads or (0,) * 2 * nd,
                    "dilations": (1,) * nd, "group": group})


@given(st.integers(1, 3), st.integers(1, 4), st.sampled_from([1, 2]), st.integers(1, 3),
       st.booleans(), st.sampled_from([1, 2, 3]), st.sampled_from([1e-5, 1e-3]),
       st.integers(0, 99))
def test_conv_then_batchnorm_folds_into_the_conv(batch, mult, group, kernel, has_bias, nd, eps,
                                                 seed):
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    cin, cout = 2 * group, mult * group
    x = b.input("x", (batch, cin) + (4,) * nd, "float32")
    w = b.const(rng.standard_normal((cout, cin // group) + (kernel,) * nd).astype("float32"))
    bias = b.const(rng.standard_normal(cout).astype("float32")) if has_bias else None
    y = batchnorm(b, conv(b, x, w, bias, group), rng, eps)
    g = b.build([b.emit1("Relu", [y])]).verify()
    out = folded(g)
    assert ops(out) == ["Conv", "Relu"]
    assert len(out.nodes[0].inputs) == 3 and all(v.is_const for v in out.nodes[0].inputs[1:])
    assert_equivalent(g, out)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (), (5,), (1, 5), (3, 1), (3, 5)])
def test_gemm_then_batchnorm_folds_into_the_gemm(trans_b, c_shape):
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    a = b.input("a", (3, 4), "float32")
    w = b.const(rng.standard_normal((5, 4) if trans_b else (4, 5)).astype("float32"))
    c = [] if c_shape is None else [b.const(rng.standard_normal(c_shape).astype("float32"))]
    y = b.emit1("Gemm", [a, w, *c], {"alpha": 0.5, "beta": 2.0, "transA": 0, "transB": trans_b})
    g = b.build([batchnorm(b, y, rng)]).verify()
    out = folded(g)
    assert ops(out) == ["Gemm"] and out.outputs[0].name == "bn"
    assert out.nodes[0].attrs["beta"] == 1.0
    assert_equivalent(g, out)


def test_matmul_with_constant_weights_folds_and_adds_the_shift():
    rng = np.random.default_rng(1)
    b = GraphBuilder()
    a = b.input("a", (3, 4), "float32")
    y = b.emit1("MatMul", [a, b.const(rng.standard_normal((4, 6)).astype("float32"))])
    g = b.build([batchnorm(b, y, rng)]).verify()
    out = folded(g)
    assert ops(out) == ["MatMul", "Add"] and out.outputs[0].name == "bn"
    assert_equivalent(g, out)


def _conv_graph(rng, extra_use=False, output_too=False, rank3_matmul=False):
    b = GraphBuilder()
    if rank3_matmul:
        x = b.input("x", (2, 3, 4), "float32")
        y = b.emit1("MatMul", [x, b.const(rng.standard_normal((4, 4)).astype("float32"))])
    else:
        x = b.input("x", (1, 2, 5, 5), "float32")
        y = conv(b, x, b.const(rng.standard_normal((3, 2, 3, 3)).astype("float32")))
    outs = [batchnorm(b, y, rng)]
    if extra_use:
        outs.append(b.emit1("Relu", [y]))
    if output_too:
        outs.append(y)
    return b.build(outs).verify()


@pytest.mark.parametrize("case", ["extra_use", "output_too", "rank3_matmul"])
def test_batchnorm_that_cannot_fold_becomes_mul_add(case):
    g = _conv_graph(np.random.default_rng(2), **{case: True})
    out = folded(g)
    assert "BatchNormalization" not in ops(out)
    assert ops(out)[1:3] == ["Mul", "Add"] and out.outputs[0].name == "bn"
    assert_equivalent(g, out)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (1, 3, 2, 2, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batchnorm_on_an_input_becomes_per_channel_mul_add(shape, dtype):
    rng = np.random.default_rng(3)
    b = GraphBuilder()
    x = b.input("x", shape, dtype)
    g = b.build([batchnorm(b, x, rng, dtype=dtype)]).verify()
    out = folded(g)
    assert ops(out) == ["Mul", "Add"]
    assert out.nodes[0].inputs[1].shape == (3,) + (1,) * (len(shape) - 2)
    assert out.nodes[0].inputs[1].dtype == dtype
    assert_equivalent(g, out)


def test_float16_batchnorm_stays():
    """Rounding x * s and + t apart in float16 is further from ONNX Runtime than the op."""
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float16")
    g = b.build([batchnorm(b, x, np.random.default_rng(5), dtype="float16")]).verify()
    assert ops(folded(g)) == ["BatchNormalization"]


def test_batchnorm_with_runtime_statistics_stays():
    rng = np.random.default_rng(4)
    b = GraphBuilder()
    x = b.input("x", (1, 3, 2), "float32")
    scale = b.input("scale", (3,), "float32")
    _, shift, mean, var = bn_params(b, 3, rng)
    g = b.build([b.emit1("BatchNormalization", [x, scale, shift, mean, var],
                         {"epsilon": 1e-5})]).verify()
    assert ops(folded(g)) == ["BatchNormalization"]
