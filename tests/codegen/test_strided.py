"""Strided loads (contiguous loads + shuffle), padding reads (masked loads) and store tiles
(register transpose) of codegen/llvm_strided, against NumPy. Inputs end right before an
unreadable page, so a read past the last element the IR names crashes the test."""

import ctypes
import mmap

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from tensorforge.codegen import llvm_strided
from tensorforge.codegen.llvm_build import build
from tensorforge.compiler import te, tir
from tensorforge.compiler.tir import Buffer, Const, For, Load, PrimFunc, Ramp, Store, Var, seq

rng = np.random.default_rng(0)
_libc = ctypes.CDLL(None)


def fenced(a: np.ndarray) -> np.ndarray:
    """A copy of `a` whose last byte is followed by a PROT_NONE page."""
    pages = -(-a.nbytes // mmap.PAGESIZE) or 1
    mm = mmap.mmap(-1, (pages + 1) * mmap.PAGESIZE)
    fence = ctypes.addressof(ctypes.c_char.from_buffer(mm)) + pages * mmap.PAGESIZE
    assert _libc.mprotect(ctypes.c_void_p(fence), mmap.PAGESIZE, 0) == 0
    out = np.frombuffer(mm, a.dtype, a.size, pages * mmap.PAGESIZE - a.nbytes).reshape(a.shape)
    out[...] = a
    return out


def values(n: int, dtype: str) -> np.ndarray:
    return (rng.standard_normal(n) * 50).astype(dtype)


def intrinsics(kernel) -> set:
    return {name for name in ("gather", "scatter") if f"llvm.masked.{name}" in kernel.source()}


# ---------------------------------------------------------------- strided loads


def strided_copy(n_vec: int, stride: int, lanes: int, dtype: str) -> PrimFunc:
    """for c in serial(0, n_vec): Y[ramp(c*L, 1, L)] = X[ramp(c*L*stride, stride, L)],
    X exactly as long as the last element read."""
    X = Buffer("X", dtype, ((n_vec - 1) * lanes * stride + (lanes - 1) * stride + 1,))
    Y = Buffer("Y", dtype, (n_vec * lanes,))
    c = Var("c")
    body = Store(Y, Ramp(c * lanes, 1, lanes), Load(X, Ramp(c * (lanes * stride), stride, lanes)))
    return PrimFunc("strided_copy", (X, Y), For(c, 0, n_vec, "serial", body))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8"])
@pytest.mark.parametrize("lanes", [4, 8, 16])
@pytest.mark.parametrize("stride", range(1, 9))
def test_strided_load_exact_buffer(stride, lanes, dtype):
    f = strided_copy(3, stride, lanes, dtype)
    x = fenced(values(f.params[0].shape[0], dtype))
    y = np.zeros(f.params[1].shape, dtype)
    kernel = build(f)
    kernel(x, y)
    expect = np.concatenate([x[c * lanes * stride:][::stride][:lanes] for c in range(3)])
    np.testing.assert_array_equal(y, expect)
    if stride in llvm_strided.LOAD_STRIDES and stride < lanes:
        assert "gather" not in intrinsics(kernel)


def strided_map(n: int, stride: int, offset: int, dtype: str) -> PrimFunc:
    """for i in vectorized(0, n): Y[i] = X[i*stride + offset] * 2 (masked tail when n is no
    multiple of the lanes)."""
    X = Buffer("X", dtype, ((n - 1) * stride + offset + 1,))
    Y = Buffer("Y", dtype, (n,))
    i = Var("i")
    return PrimFunc("strided_map", (X, Y),
                    For(i, 0, n, "vectorized", Y.store(i, X[i * stride + offset] * 2)))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 70), stride=st.integers(1, 8), offset=st.integers(0, 3),
       dtype=st.sampled_from(["float32", "float64", "int32"]))
@example(n=17, stride=2, offset=0, dtype="float32").via("one masked lane")
@example(n=31, stride=8, offset=3, dtype="float32").via("wide stride, tail")
def test_vectorized_strided_read_any_size(n, stride, offset, dtype):
    f = strided_map(n, stride, offset, dtype)
    x = fenced(values(f.params[0].shape[0], dtype))
    y = np.zeros(n, dtype)
    build(f)(x, y)
    np.testing.assert_array_equal(y, x[offset::stride][:n] * 2)


# ---------------------------------------------------------------- padding reads


def padded_phase(n: int, stride: int, pad: int):
    """Y[i] = X[i*stride - pad] if inside X else 0 (te.if_then_else: a guarded read)."""
    X = te.placeholder((n,), "float32", "X")
    m = (n + 2 * pad - 1) // stride + 1
    Y = te.compute((m,), lambda i: te.if_then_else(
        te.all(i * stride - pad >= 0, i * stride - pad < n), X[i * stride - pad], 0.0), name="Y")
    s = te.create_schedule([Y])
    s[Y].vectorize(Y.op.axis[0])
    return te.lower(s, [X, Y], "padded_phase"), m


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 80), stride=st.integers(1, 4), pad=st.integers(0, 3))
@example(n=112, stride=2, pad=1).via("MobileNetV2 stride-2 row")
def test_padding_read_is_masked_load(n, stride, pad):
    f, m = padded_phase(n, stride, pad)
    x = fenced(values(n, "float32"))
    y = np.zeros(m, "float32")
    kernel = build(f)
    kernel(x, y)
    padded = np.concatenate([np.zeros(pad, "f4"), x, np.zeros(pad + stride, "f4")])
    np.testing.assert_array_equal(y, padded[::stride][:m])
    if stride in llvm_strided.LOAD_STRIDES or stride == 1:
        assert not intrinsics(kernel)


def test_nested_guard_keeps_element_zero_semantics():
    """A guard that is not the select's own condition: lanes it masks read X[0]."""
    L = 8
    X, Y = Buffer("X", "float32", (2 * L,)), Buffer("Y", "float32", (L,))
    lane = Ramp(Const(0), 1, L)
    guard = lane < tir.Broadcast(Const(5), L)
    body = Store(Y, lane, Load(X, tir.Select(guard, Ramp(Const(1), 2, L),
                                             tir.Broadcast(Const(0), L))))
    x, y = fenced(values(2 * L, "float32")), np.zeros(L, "float32")
    build(PrimFunc("nested", (X, Y), body))(x, y)
    np.testing.assert_array_equal(y, np.where(np.arange(L) < 5, x[1::2], x[0]))


# ---------------------------------------------------------------- store tiles


def tile_store(rows: int, lanes: int, stride: int, dtype: str, reads_out: bool = False):
    """Y[ramp(base + k, stride, L)] = X[ramp(k*L, 1, L)] (+ Y[k] when reads_out), k < rows:
    the conv2d NCHW store of a [rows x L] register tile."""
    base = 3
    X = Buffer("X", dtype, (rows * lanes,))
    Y = Buffer("Y", dtype, (base + (lanes - 1) * stride + rows,))
    stores = []
    for k in range(rows):
        v = Load(X, Ramp(Const(k * lanes), 1, lanes))
        if reads_out:
            v = v + tir.Broadcast(Load(Y, Const(k)), lanes)
        stores.append(Store(Y, Ramp(Const(base) + k, stride, lanes), v))
    return PrimFunc("tile_store", (X, Y), seq(*stores)), base


def tile_reference(x, y, rows, lanes, stride, base, reads_out=False):
    y = y.copy()
    for k in range(rows):
        y[base + k + stride * np.arange(lanes)] = x[k * lanes:(k + 1) * lanes] + \
            (y[k] if reads_out else 0)
    return y


@settings(max_examples=25, deadline=None)
@given(lanes=st.sampled_from([4, 8, 16]), rows=st.integers(1, 16), extra=st.integers(0, 40),
       dtype=st.sampled_from(["float32", "float64", "int16"]))
@example(lanes=16, rows=14, extra=784 - 14, dtype="float32").via("ResNet-18 28x28 tile")
@example(lanes=16, rows=16, extra=0, dtype="float32").via("square tile, stride = rows")
def test_tile_store_exact_buffer(lanes, rows, extra, dtype):
    rows = min(rows, lanes)
    stride = rows + extra
    f, base = tile_store(rows, lanes, stride, dtype)
    x = values(rows * lanes, dtype)
    y = fenced(values(f.params[1].shape[0], dtype))
    expect = tile_reference(x, y, rows, lanes, stride, base)
    kernel = build(f)
    kernel(x, y)
    np.testing.assert_array_equal(y, expect)
    if rows >= llvm_strided.MIN_TILE_ROWS:
        assert "scatter" not in intrinsics(kernel)


@pytest.mark.parametrize("stride, reads_out", [(2, False), (6, True)])
def test_overlapping_or_self_reading_stores_keep_their_order(stride, reads_out):
    rows, lanes = 6, 8
    f, base = tile_store(rows, lanes, stride, "float32", reads_out)
    x, y = values(rows * lanes, "float32"), values(f.params[1].shape[0], "float32")
    expect = tile_reference(x, y, rows, lanes, stride, base, reads_out)
    build(f)(x, y)
    np.testing.assert_array_equal(y, expect)
