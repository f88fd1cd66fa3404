"""Reductions, normalizations, pools and products lowered, built and run against the
reference executor. Sums are reassociated (LANES partial accumulators), hence rtol 1e-4 on
rows of up to a few hundred elements."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lower_testing import check_graph, rand, single
from tensorforge.compiler import GraphBuilder
from tensorforge.compiler import te, topi

dims = st.integers(1, 40)


@given(dims, dims, st.sampled_from([(0,), (1,), (0, 1), (1, 2), (2,)]), st.integers(0, 1))
def test_reduce_ops(a, b, axes, keep):
    for op in ("ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL2"):
        single(op, [(a, b, 3)], {"axes": axes, "keepdims": keep})


@given(st.integers(1, 5), st.integers(1, 70), st.sampled_from([(1,), (0, 1)]),
       st.sampled_from(["float32", "float64", "int32", "int64"]), st.integers(0, 2**31))
def test_reduce_prod_rows(rows, width, axes, dtype, seed):
    """Products over trailing axes long enough for the LANES partial products and a tail;
    factors near 1 keep float products in range, integer products wrap as in the reference."""
    factors = [-1.25, -1, -0.875, 0.75, 1, 1.125] if dtype.startswith("float") else [-3, -1, 2]
    x = np.random.default_rng(seed).choice(factors, (rows, width)).astype(dtype)
    b = GraphBuilder()
    y = b.emit1("ReduceProd", [b.input("x", x.shape, dtype)], {"axes": axes, "keepdims": 0})
    check_graph(b.build([y]), [x], fuse=False)


def test_reduce_all_and_ints():
    single("ReduceSum", [(5, 33)], {"axes": (0, 1), "keepdims": 0})
    single("ReduceMean", [(5, 33)], {"axes": (1,), "keepdims": 1}, dtype="int32")
    single("ReduceMax", [(4, 35)], {"axes": (1,), "keepdims": 0}, dtype="int64")


@given(dims, dims, st.sampled_from([0, 1, -1]))
def test_softmax_argmax(a, b, axis):
    single("Softmax", [(a, b)], {"axis": axis})
    single("LogSoftmax", [(a, b)], {"axis": axis})
    for op in ("ArgMax", "ArgMin"):
        single(op, [(a, b)], {"axis": axis, "keepdims": 1, "select_last_index": 0})
        single(op, [(a, b)], {"axis": axis, "keepdims": 0, "select_last_index": 1}, dtype="int32")


def test_cumsum():
    single("CumSum", [(3, 18)], {"axis": 1, "exclusive": 0, "reverse": 0})
    single("CumSum", [(6, 5)], {"axis": 0, "exclusive": 1, "reverse": 1})


@given(dims, st.integers(1, 300))
def test_layer_norm(rows, width):
    single("LayerNormalization", [(2, rows, width), (width,), (width,)],
           {"axis": 2, "epsilon": 1e-5}, consts=(1, 2), rtol=2e-4, atol=2e-5)


def test_norms():
    single("LayerNormalization", [(3, 4, 37), (4, 37)], {"axis": 1, "epsilon": 1e-5,
                                                         "stats_dtype": "float32"},
           rtol=2e-4, atol=2e-5)
    single("InstanceNormalization", [(2, 3, 5, 7), (3,), (3,)], {"epsilon": 1e-5},
           rtol=2e-4, atol=2e-5)
    single("LRN", [(1, 7, 4, 5)], {"size": 3, "alpha": 1e-3, "beta": 0.75, "bias": 1.0})


def test_batch_norm():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4, 5), "float32")
    params = [b.const(np.array(v, np.float32)) for v in
              ([0.5, 1.0, 2.0], [0.1, 0.2, 0.3], [0.0, -1.0, 1.0], [1.0, 0.5, 2.0])]
    y = b.emit1("BatchNormalization", [x, *params], {"epsilon": 1e-5})
    check_graph(b.build([y]), [rand((2, 3, 4, 5))], fuse=False)


POOL = dict(strides=(2, 2), pads=(1, 1, 1, 1), dilations=(1, 1))


@given(st.data(), st.integers(1, 3), st.sampled_from(["float32", "float64", "int8"]))
def test_max_pool_with_indices(data, nd, dtype):
    """Windows over ties, NaN and -inf (and, with dilation, some over no input element)."""
    draw = data.draw
    kernel, strides, dilations = ([draw(st.integers(1, hi)) for _ in range(nd)]
                                  for hi in (3, 2, 2))
    pads = [draw(st.integers(0, k - 1)) for k in kernel] * 2
    sizes = [draw(st.integers(max(1, (k - 1) * d + 1 - 2 * p), 7))
             for k, d, p in zip(kernel, dilations, pads)]
    x = np.round(rand([2, 3] + sizes, draw(st.integers(0, 99)), "float64") * 2)
    if dtype != "int8":
        x.flat[::7] = draw(st.sampled_from([np.nan, -np.inf]))
    attrs = dict(kernel_shape=tuple(kernel), strides=tuple(strides), pads=tuple(pads),
                 dilations=tuple(dilations), ceil_mode=draw(st.integers(0, 1)),
                 storage_order=draw(st.integers(0, 1)))
    b = GraphBuilder()
    outs = b.emit("MaxPoolWithIndices", [b.input("x", x.shape, dtype)], attrs)
    check_graph(b.build(list(outs)), [x.astype(dtype)], fuse=False)


def test_max_pool_with_indices_reduces_each_window_twice():
    """The maximum and where the scan first reaches it are window reductions; the first tap
    (a NaN there wins) is closed form (topi.pool.first_tap), not a third pass."""
    b = GraphBuilder()
    x = b.input("x", (1, 2, 9, 8), "float32")
    b.emit("MaxPoolWithIndices", [x], dict(kernel_shape=(3, 2), storage_order=0, ceil_mode=0,
                                          **POOL))
    outs = topi.COMPUTE["MaxPoolWithIndices"](b.nodes[0], [te.placeholder(x.shape, "float32", "x")])
    ops, todo = set(), [t.op for t in outs]
    while todo:
        op = todo.pop()
        if op not in ops and isinstance(op, te.ComputeOp):
            ops.add(op)
            todo += [t.op for t in op.input_tensors()]
    assert sorted(op.body.combiner for op in ops if isinstance(op.body, te.Reduce)) == \
        ["max", "min"]


@pytest.mark.parametrize("ceil", [0, 1])
def test_pools(ceil):
    attrs = dict(POOL, kernel_shape=(3, 3), ceil_mode=ceil)
    single("MaxPool", [(1, 3, 11, 9)], attrs)
    single("AveragePool", [(1, 3, 11, 9)], dict(attrs, count_include_pad=0))
    single("AveragePool", [(1, 3, 11, 9)], dict(attrs, count_include_pad=1))
    single("LpPool", [(1, 2, 8, 9)], dict(attrs, p=2))
    single("MaxPool", [(2, 3, 20)], dict(kernel_shape=(2,), strides=(1,), pads=(0, 1),
                                         dilations=(2,), ceil_mode=ceil))


def test_global_pools():
    single("GlobalAveragePool", [(2, 5, 7, 7)])
    single("GlobalMaxPool", [(1, 3, 6, 17)])
    single("GlobalLpPool", [(1, 3, 4, 5)], {"p": 3}, rtol=2e-4)


@given(st.integers(1, 20), st.integers(1, 40), st.integers(1, 40))
def test_matmul_shapes(m, k, n):
    single("MatMul", [(m, k), (k, n)], rtol=1e-4, atol=1e-4)
    single("MatMul", [(2, m, k), (k, n)], consts=(1,), rtol=1e-4, atol=1e-4)
    single("MatMul", [(2, 1, m, k), (3, k, n)], rtol=1e-4, atol=1e-4)
    single("MatMul", [(k,), (k, n)], rtol=1e-4, atol=1e-4)
    single("MatMul", [(m, k), (k,)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm(ta, tb):
    a, b = ((19, 7) if ta else (7, 19)), ((33, 19) if tb else (19, 33))
    attrs = dict(alpha=0.5, beta=2.0, transA=ta, transB=tb)
    single("Gemm", [a, b, (33,)], attrs, consts=(1, 2), rtol=1e-4, atol=1e-4)
    single("Gemm", [a, b, (7, 1)], attrs, rtol=1e-4, atol=1e-4)


def test_integer_matmul_and_einsum():
    single("MatMul", [(3, 5), (5, 4)], dtype="int32")
    single("Einsum", [(2, 3, 5), (2, 5, 4)], {"equation": "bij,bjk->bik"}, rtol=1e-4, atol=1e-4)
    single("Einsum", [(3, 3)], {"equation": "ii->i"})
    single("Einsum", [(2, 3, 4), (4,)], {"equation": "...j,j->..."}, rtol=1e-4, atol=1e-4)
