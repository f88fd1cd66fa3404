"""LLVM backend: hand-written PrimFuncs compiled for the host and checked against NumPy."""

import gc

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from tensorforge.codegen.llvm_build import build
from tensorforge.compiler import tir
from tensorforge.compiler.tir import Buffer, For, PrimFunc, Var

import tir_kernels

rng = np.random.default_rng(0)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 1100))
@example(1).via("edge")
@example(15).via("edge")
@example(17).via("edge")
@example(1000).via("edge")
def test_add_any_size(n):
    a, b = rng.standard_normal(n, dtype="f4"), rng.standard_normal(n, dtype="f4")
    c = np.zeros(n, "f4")
    build(tir_kernels.add(n))(a, b, c)
    np.testing.assert_array_equal(c, a + b)


@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "int8"])
def test_add_other_dtypes(dtype):
    n = 37
    a = (rng.standard_normal(n) * 10).astype(dtype)
    b = (rng.standard_normal(n) * 10).astype(dtype)
    c = np.zeros(n, dtype)
    build(tir_kernels.add(n, dtype))(a, b, c)
    np.testing.assert_array_equal(c, a + b)


def test_int_floordiv_floormod_match_python():
    n = 64
    A, B, Q, R = (Buffer(x, "int32", (n,)) for x in "ABQR")
    i = Var("i")
    body = For(i, 0, n, "vectorized", tir.seq(Q.store(i, A[i] // B[i]), R.store(i, A[i] % B[i])))
    a = rng.integers(-50, 50, n).astype("i4")
    b = rng.choice([-7, -3, -1, 1, 2, 5], n).astype("i4")
    q, r = np.zeros(n, "i4"), np.zeros(n, "i4")
    build(PrimFunc("divmod", (A, B, Q, R), body))(a, b, q, r)
    np.testing.assert_array_equal(q, a // b)
    np.testing.assert_array_equal(r, a % b)


def test_select_compare_cast():
    n = 45
    X, Y = Buffer("X", "float32", (n,)), Buffer("Y", "int32", (n,))
    i = Var("i")
    body = For(i, 0, n, "vectorized",
               Y.store(i, tir.cast("int32", tir.select(X[i] > 0.0, X[i] * 10.0, tir.const(-1.0, "float32")))))
    x = rng.standard_normal(n).astype("f4")
    y = np.zeros(n, "i4")
    build(PrimFunc("relu_ish", (X, Y), body))(x, y)
    np.testing.assert_array_equal(y, np.where(x > 0, x * 10, -1).astype("i4"))


@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 33), (64, 1000)])
def test_row_sum(rows, cols):
    a = rng.standard_normal((rows, cols), dtype="f4")
    s = np.zeros(rows, "f4")
    build(tir_kernels.row_sum(rows, cols))(a, s)
    np.testing.assert_allclose(s, a.sum(1), rtol=1e-4, atol=1e-4)


def test_parallel_results_identical_for_1_and_2_threads(monkeypatch):
    a = rng.standard_normal((257, 129), dtype="f4")
    kernel = build(tir_kernels.row_sum(257, 129))
    outs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TENSORFORGE_NUM_THREADS", threads)
        s = np.zeros(257, "f4")
        kernel(a, s)
        outs.append(s)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_dynamic_extent_scalar_param_masked_tail():
    A, C = Buffer("A", "float32", (100,)), Buffer("C", "float32", (100,))
    i, n = Var("i"), Var("n")
    kernel = build(PrimFunc("prefix_double", (A, C, n), For(i, 0, n, "vectorized", C.store(i, A[i] * 2.0))))
    a = rng.standard_normal(100, dtype="f4")
    for count in (0, 5, 16, 37, 100):
        c = np.zeros(100, "f4")
        kernel(a, c, count)
        np.testing.assert_array_equal(c[:count], a[:count] * 2)
        assert not c[count:].any()  # masked lanes never written


def test_strided_gather_and_transpose():
    A, T = Buffer("A", "float32", (8, 19)), Buffer("T", "float32", (19, 8))
    i, j = Var("i"), Var("j")
    body = For(i, 0, 19, "serial", For(j, 0, 8, "vectorized", T.store((i, j), A[j, i])))
    a = rng.standard_normal((8, 19), dtype="f4")
    t = np.zeros((19, 8), "f4")
    kernel = build(PrimFunc("transpose", (A, T), body))
    kernel(a, t)
    np.testing.assert_array_equal(t, a.T)
    assert "gather" in kernel.source("llvm")


def test_argument_checks_are_clear():
    kernel = build(tir_kernels.add(8))
    a = np.zeros(8, "f4")
    with pytest.raises(TypeError, match="'B' must be a C-contiguous numpy float32\\[8\\], got float64"):
        kernel(a, np.zeros(8), np.zeros(8, "f4"))
    with pytest.raises(TypeError, match="non-contiguous"):
        kernel(a, np.zeros(16, "f4")[::2], np.zeros(8, "f4"))
    with pytest.raises(TypeError, match="takes 3 arguments"):
        kernel(a, a)
    with pytest.raises(ValueError, match="overlaps"):
        kernel(a, np.zeros(8, "f4"), a)


def test_sources_and_cache():
    k1, k2 = build(tir_kernels.add(40)), build(tir_kernels.add(40))
    assert k1.key == k2.key and k1._compiled is k2._compiled
    assert "fadd" in k1.source("llvm") and "ret" in k1.source("asm")
    assert "ramp" in k1.source("tir")
    assert k1.address != 0
    with pytest.raises(ValueError, match="unknown source kind"):
        k1.source("ptx")


def test_kernel_cache_is_bounded_and_evicts_least_recently_used(monkeypatch):
    """A process compiling many distinct kernels keeps at most CACHE_SIZE of them; an evicted
    kernel still runs (it holds its own compiled code)."""
    from tensorforge.codegen import llvm_build
    monkeypatch.setattr(llvm_build, "CACHE_SIZE", 2)
    monkeypatch.setattr(llvm_build, "_CACHE", llvm_build.OrderedDict())
    first, second = build(tir_kernels.add(41)), build(tir_kernels.add(42))
    build(tir_kernels.add(41))                       # used again: now the most recent
    build(tir_kernels.add(43))                       # evicts add(42)
    assert list(llvm_build._CACHE) == [first.key, build(tir_kernels.add(43)).key]
    a, b = np.arange(42, dtype="f4"), np.ones(42, "f4")
    out = np.empty(42, "f4")
    second(a, b, out)
    np.testing.assert_array_equal(out, a + b)
    del second                                       # frees add(42)'s JIT engine: it must not
    gc.collect()                                     # free the target's shared TargetMachine
    a, b, out = np.arange(44, dtype="f4"), np.ones(44, "f4"), np.empty(44, "f4")
    build(tir_kernels.add(44))(a, b, out)
    np.testing.assert_array_equal(out, a + b)


def test_gpu_loop_kind_is_rejected():
    from tensorforge.codegen.llvm import CodegenError
    A = Buffer("A", "float32", (4,))
    i = Var("i")
    with pytest.raises(CodegenError, match="GPU"):
        build(PrimFunc("g", (A,), For(i, 0, 4, "threadIdx.x", A.store(i, 1.0))))
