"""Tensor expressions: construction, errors, printing, and default (unscheduled) lowering."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorforge.compiler import te, tir
from te_testing import close, rand, run

dims = st.integers(1, 9)


def test_compute_names_axes_after_lambda_params():
    A = te.placeholder((3, 4), name="A")
    B = te.compute((3, 4), lambda row, col: A[row, col] * 2.0, name="B")
    assert [a.name for a in B.op.axis] == ["row", "col"] and B.dtype == "float32"
    assert B.shape == (3, 4) and B.op.input_tensors() == [A]
    assert str(B.op.body) == "A[row, col] * 2.0"


def test_reduce_body_prints_and_has_reduce_axis():
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    S = te.compute((3,), lambda i: te.sum(A[i, k], axis=k), name="S")
    assert S.op.reduce_axis == (k,) and str(S.op.body) == "sum(A[i, k], axis=[k])"


def test_errors_are_clear():
    A = te.placeholder((3, 4), name="A")
    k = te.reduce_axis(4, name="k")
    with pytest.raises(te.TEError, match="2 dimension"):
        A[1]
    with pytest.raises(te.TEError, match="whole body"):
        te.compute((3,), lambda i: te.sum(A[i, k], axis=k) + 1.0)
    with pytest.raises(te.TEError, match="not its axes.*reduce_axis"):
        te.compute((3,), lambda i: A[i, k])
    with pytest.raises(te.TEError, match="reduce_axis"):
        te.sum(A[0, 0], axis=A.shape)
    with pytest.raises(te.TEError, match="non-negative ints"):
        te.placeholder((-1, 3))
    with pytest.raises(te.TEError, match="reversed range"):
        te.reduce_axis((3, 2))


def test_reduction_over_an_empty_axis_is_its_init_and_reads_nothing():
    """An empty tensor is legal; a reduction over an empty axis is a fill of its init (the
    combiner's identity by default), so the empty placeholder is never read or passed."""
    A = te.placeholder((3, 0), name="A")
    k = te.reduce_axis(0, name="k")
    for reduce, init, want in [(te.sum, None, 0.0), (te.prod, None, 1.0),
                               (te.max_reduce, None, -np.inf), (te.min_reduce, 2.5, 2.5)]:
        S = te.compute((3,), lambda i: reduce(A[i, k], axis=k, init=init), name="S")
        assert S.op.input_tensors() == [] and S.op.reduce_axis == ()
        (out,), _ = run(te.create_schedule([S]), [S], {})
        np.testing.assert_array_equal(out, np.full(3, want, np.float32))


@settings(max_examples=6)
@given(dims, dims)
def test_elementwise_chain_with_intrinsics(m, n):
    A, B = te.placeholder((m, n), name="A"), te.placeholder((n,), name="B")
    C = te.compute((m, n), lambda i, j: te.exp(A[i, j]) * B[j], name="C")
    D = te.compute((m, n), lambda i, j: te.select(C[i, j] > 1.0, te.sqrt(C[i, j]),
                                                   te.tanh(C[i, j])), name="D")
    E = te.compute((m, n), lambda i, j: te.max(te.cast("float32", i + j) - D[i, j], 0.5),
                   name="E")
    a, b = rand((m, n)), np.abs(rand((n,), 1))
    (out,), _ = run(te.create_schedule([E]), [A, B, E], {A: a, B: b})
    c = np.exp(a) * b
    d = np.where(c > 1, np.sqrt(np.maximum(c, 0)), np.tanh(c))
    i, j = np.indices((m, n))
    close(out, np.maximum((i + j) - d, 0.5))


@settings(max_examples=6)
@given(dims, dims, dims)
def test_reductions_sum_prod_max_min_and_multiple_axes(m, n, p):
    A = te.placeholder((m, n, p), name="A")
    k1, k2 = te.reduce_axis((0, n), name="k1"), te.reduce_axis((0, p), name="k2")
    S = te.compute((m,), lambda i: te.sum(A[i, k1, k2], axis=[k1, k2]), name="S")
    k = te.reduce_axis((0, p), name="k")
    Mx = te.compute((m, n), lambda i, j: te.max_reduce(A[i, j, k], axis=k), name="Mx")
    k3 = te.reduce_axis((0, p), name="k3")
    Mn = te.compute((m, n), lambda i, j: te.min_reduce(A[i, j, k3], axis=k3), name="Mn")
    k4 = te.reduce_axis((0, p), name="k4")
    P = te.compute((m, n), lambda i, j: te.prod(A[i, j, k4], axis=k4), name="P")
    a = rand((m, n, p))
    for T, want in ((S, a.sum((1, 2))), (Mx, a.max(2)), (Mn, a.min(2)), (P, a.prod(2))):
        (out,), _ = run(te.create_schedule([T]), [A, T], {A: a})
        close(out, want, n * p)


def test_reduction_with_init_and_partial_range():
    A = te.placeholder((4, 10), name="A")
    k = te.reduce_axis((2, 7), name="k")
    S = te.compute((4,), lambda i: te.sum(A[i, k], axis=k, init=100.0), name="S")
    a = rand((4, 10))
    (out,), _ = run(te.create_schedule([S]), [A, S], {A: a})
    close(out, 100 + a[:, 2:7].sum(1))


def test_if_then_else_never_reads_out_of_bounds():
    A = te.placeholder((5,), name="A")
    P = te.compute((9,), lambda i: te.if_then_else(te.all(i >= 2, i < 7), A[i - 2], 0.0), name="P")
    a = rand((5,))
    (out,), func = run(te.create_schedule([P]), [A, P], {A: a})
    close(out, np.pad(a, 2))
    assert "select" in str(func)


def test_integer_tensors_and_identity_values():
    A = te.placeholder((3, 4), "int32", name="A")
    k = te.reduce_axis(4, name="k")
    M = te.compute((3,), lambda i: te.max_reduce(A[i, k], axis=k), name="M")
    a = np.arange(12, dtype="int32").reshape(3, 4) - 20
    (out,), _ = run(te.create_schedule([M]), [A, M], {A: a})
    np.testing.assert_array_equal(out, a.max(1))
    assert te.identity("max", "int32").value == -2 ** 31
    assert te.identity("min", "float32").value == float("inf")
    assert te.identity("prod", "int64").value == 1


def test_unscheduled_lowering_prints_readably():
    A = te.placeholder((4, 3), name="A")
    k = te.reduce_axis(3, name="k")
    S = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="S")
    func = te.lower(te.create_schedule([S]), [A, S], name="rowsum")
    assert isinstance(func, tir.PrimFunc)
    assert str(func) == """func rowsum(A: float32[4, 3], S: float32[4]):
  for i in serial(0, 4):
    S[i] = 0.0
    for k in serial(0, 3):
      S[i] = S[i] + A[(i * 3) + k]"""


def test_interval_analysis_of_tile_indices():
    from tensorforge.compiler import te_bounds
    io, ii, jo = tir.Var("io"), tir.Var("ii"), tir.Var("jo")
    ranges = {ii: (tir.Const(0), tir.Const(5))}
    lo, hi = te_bounds.interval((io * 6 + ii) * 4 + 1, ranges)
    assert te_bounds.constant(te_bounds.add(hi, lo, -1)) == 20
    assert str(te_bounds.to_expr(lo)) == "(io * 24) + 1"
    lo, hi = te_bounds.interval((jo * 32 + ii) // 32, ranges)
    assert str(te_bounds.to_expr(lo)) == "jo" and lo == hi
    assert te_bounds.interval((jo * 32 + ii) % 32, ranges) == ({"1": 0}, {"1": 5})
