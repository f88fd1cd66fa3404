"""Lowering of whole kernels: fused groups (epilogues, prologues, multi-output), the
LoweredKernel contract, clear errors, and every kernel of the shared models run one by one
against the reference executor's intermediate values."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import MODELS
from lower_testing import HOST, check_graph, rand
from tensorforge.compiler import GraphBuilder, from_onnx, optimize
from tensorforge.compiler.graph import Node, Value
from tensorforge.compiler.lower import lower_graph, lower_node, task_space, workload
from tensorforge.compiler.topi import LoweringError

dims = st.integers(1, 40)


@given(st.integers(1, 20), dims, dims)
def test_matmul_bias_gelu(m, k, n):
    """MatMul + bias + GELU (erf form, as exported) is one dense kernel with an epilogue."""
    b = GraphBuilder()
    x = b.input("x", (1, m, k), "float32")
    h = b.emit1("Add", [b.const(rand((n,), 1)), b.emit1("MatMul", [x, b.const(rand((k, n), 2))])])
    e = b.emit1("Erf", [b.emit1("Div", [h, b.const(np.float32(math.sqrt(2)))])])
    g = b.emit1("Mul", [b.emit1("Mul", [h, b.emit1("Add", [e, b.const(np.float32(1))])]),
                        b.const(np.float32(0.5))])
    (kern,) = check_graph(b.build([g]), [rand((1, m, k))], rtol=1e-4, atol=1e-4)
    assert kern.template == "dense" and kern.func.params[1].shape[1] == k  # packed weights


@given(dims, dims)
def test_add_relu_residual_and_layer_norm(r, c):
    b = GraphBuilder()
    x, y = b.input("x", (r, c), "float32"), b.input("y", (r, c), "float32")
    s = b.emit1("Relu", [b.emit1("Add", [x, y])])
    n = b.emit1("LayerNormalization", [b.emit1("Add", [s, x]), b.const(rand((c,), 3)),
                                       b.const(rand((c,), 4))], {"axis": 1, "epsilon": 1e-5})
    check_graph(b.build([n, s]), [rand((r, c)), rand((r, c), 1)], rtol=2e-4, atol=2e-5)


def test_attention_pattern():
    """reshape/transpose into a batched matmul, scale + mask epilogue, softmax, matmul back."""
    b = GraphBuilder()
    q, k = b.input("q", (1, 9, 12), "float32"), b.input("k", (1, 9, 12), "float32")
    mask = b.input("mask", (1, 1, 1, 9), "float32")
    qh = b.emit1("Transpose", [b.emit1("Reshape", [q], {"shape": (1, 9, 3, 4)})], {"perm": (0, 2, 1, 3)})
    kh = b.emit1("Transpose", [b.emit1("Reshape", [k], {"shape": (1, 9, 3, 4)})], {"perm": (0, 2, 3, 1)})
    s = b.emit1("Add", [b.emit1("Div", [b.emit1("MatMul", [qh, kh]), b.const(np.float32(2))]), mask])
    p = b.emit1("Softmax", [s], {"axis": 3})
    o = b.emit1("MatMul", [p, qh])
    out = b.emit1("Reshape", [b.emit1("Transpose", [o], {"perm": (0, 2, 1, 3)})], {"shape": (1, 9, 12)})
    kernels = check_graph(b.build([out]), [rand((1, 9, 12)), rand((1, 9, 12), 1),
                                           rand((1, 1, 1, 9), 2)], atol=1e-5)
    assert {"dense", "generic_reduction"} <= {k.template for k in kernels}


def test_concat_slice_pad_pool_resize_chain():
    b = GraphBuilder()
    x = b.input("x", (1, 3, 10, 9), "float32")
    c = b.emit1("Concat", [x, b.emit1("Relu", [x])], {"axis": 1})
    p = b.emit1("Pad", [c], {"pads": (0, 0, 1, 1, 0, 0, 1, 1), "mode": "constant", "value": 0.0})
    m = b.emit1("MaxPool", [p], dict(kernel_shape=(3, 3), strides=(2, 2), pads=(0, 0, 0, 0),
                                     dilations=(1, 1), ceil_mode=0))
    sl = b.emit1("Slice", [m], {"starts": (1,), "ends": (5,), "axes": (1,), "steps": (1,)})
    r = b.emit1("Resize", [sl], dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                                     nearest_mode="floor", cubic_coeff_a=-0.75, exclude_outside=0,
                                     extrapolation_value=0.0, roi=(0,) * 8, antialias=0,
                                     sizes=(1, 4, 10, 10), scales=(1.0, 1.0, 2.0, 2.0)))
    check_graph(b.build([r]), [rand((1, 3, 10, 9))])


def test_top_level_reshape_is_a_copy_and_kernel_contract():
    b = GraphBuilder()
    x = b.input("x", (4, 6), "float32")
    g = b.build([b.emit1("Reshape", [x], {"shape": (2, 12)})])
    (k,) = check_graph(g, [rand((4, 6))])
    assert k.name == "k00_reshape" and k.inputs == (g.inputs[0],) and k.outputs == g.outputs
    assert [p.shape for p in k.func.params] == [(4, 6), (2, 12)]
    assert k.config == {"parallel": True, "vectorize": True}
    assert set(task_space(optimize(g).nodes[0], HOST)) == set(k.config)


def test_workload_is_structural():
    def graph(name, value):
        b = GraphBuilder()
        x = b.input(name, (8, 16), "float32")
        return optimize(b.build([b.emit1("Mul", [x, b.const(np.float32(value))], name=name)]))
    a, same, other = graph("a", 2.0), graph("zz", 2.0), graph("a", 3.0)
    key = workload(a.nodes[0], HOST)
    assert key == workload(same.nodes[0], HOST) != workload(other.nodes[0], HOST)
    assert "zz" not in workload(same.nodes[0], HOST) and str(HOST) in key


def test_configs_by_workload_are_used():
    b = GraphBuilder()
    x = b.input("x", (64, 300), "float32")
    g = optimize(b.build([b.emit1("Exp", [x])]))
    key = workload(g.nodes[0], HOST)
    (k,) = lower_graph(g, HOST, {key: {"parallel": False, "vectorize": False}})
    assert k.config == {"parallel": False, "vectorize": False}
    assert "parallel" not in str(k.func) and "vectorized" not in str(k.func)


def test_errors_are_clear():
    x = Value("x", (2, 3), "float32")
    with pytest.raises(LoweringError, match="Shape"):
        lower_node(Node("Shape", (x,), (Value("s", (2,), "int64"),), {"start": 0, "end": 2}), HOST)


def test_row_reductions_are_vectorized_and_parallel():
    b = GraphBuilder()
    x = b.input("x", (1024, 128), "float32")
    g = optimize(b.build([b.emit1("Softmax", [x], {"axis": 1})]))
    text = str(lower_node(g.nodes[0], HOST).func)
    assert "parallel" in text and text.count("vectorized") >= 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp", "bert_mini", "resnet18", "mobilenetv2"])
def test_model_kernels(name):
    """Every kernel of a shared model against the reference's values of its inputs."""
    ref = np.load(MODELS / f"{name}.npz")
    g = from_onnx(MODELS / f"{name}.onnx")
    kernels = check_graph(g, [ref[v.name] for v in g.inputs], rtol=1e-3, atol=1e-4)
    assert len({k.name for k in kernels}) == len(kernels)
