"""CUDA C emitted from hand-written GPU loop IR: the expected constructs are in the text and
nvcc accepts it (`nvcc -arch=sm_90 --ptx`). Running them: tests/cuda (emulated device, and a
GPU where CuPy and one exist)."""

from __future__ import annotations

import math
import pathlib
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from tensorforge.codegen.cuda import CudaCodegenError, cuda_source, launch_dims
from tensorforge.compiler import tir
from tensorforge.compiler.tir import Allocate, Barrier, Buffer, For, IfThenElse, PrimFunc, Var, seq
from tensorforge.runtime.cuda_device import CudaUnavailableError, import_cupy

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH: only the text is checked")


def nvcc(source: str, tmp_path, *flags) -> subprocess.CompletedProcess:
    path = tmp_path / "kernel.cu"
    path.write_text(source)
    return subprocess.run([NVCC, "-arch=sm_90", "-Werror", "all-warnings", *flags, str(path)],
                          capture_output=True, text=True, timeout=120)


def assert_compiles(source: str, tmp_path):
    if NVCC is None:
        return
    done = nvcc(source, tmp_path, "--ptx", "-o", "/dev/null")
    assert done.returncode == 0, f"nvcc rejected:\n{source}\n{done.stderr}"


def gpu_available() -> bool:
    try:
        import_cupy()
        return True
    except CudaUnavailableError:
        return False


# ---------------------------------------------------------------- hand-written GPU kernels


def add(n: int, threads: int = 256) -> PrimFunc:
    """for bx in blockIdx.x(0, ceil(n / T)): for tx in threadIdx.x(0, T):
         if bx * T + tx < n: C[bx * T + tx] = A[..] + B[..]"""
    A, B, C = (Buffer(x, "float32", (n,)) for x in "ABC")
    bx, tx = Var("bx"), Var("tx")
    i = bx * threads + tx
    body = IfThenElse(i < n, C.store(i, A[i] + B[i]))
    return PrimFunc("add", (A, B, C), For(bx, 0, -(-n // threads), "blockIdx.x",
                                          For(tx, 0, threads, "threadIdx.x", body)))


def gelu_bias(rows: int, cols: int, threads: int = 64) -> PrimFunc:
    """GELU(X + bias) with 4 columns per thread; the guard is per thread when cols % 4 == 0,
    else per column (inside the vector loop, so it becomes lane masks):
         for r in blockIdx.y(0, rows): for bx in blockIdx.x(..): for tx in threadIdx.x(0, T):
           [if c0 < cols:] for v in vectorized(0, 4): [if c < cols:]
             x = X[r, c] + bias[c]; Y[r, c] = x * 0.5 * (1 + erf(x / sqrt 2))"""
    X, Y = Buffer("X", "float32", (rows, cols)), Buffer("Y", "float32", (rows, cols))
    bias = Buffer("bias", "float32", (cols,))
    r, bx, tx, v, x = Var("r"), Var("bx"), Var("tx"), Var("v"), Var("x", "float32")
    c0 = (bx * threads + tx) * 4
    c = c0 + v
    gelu = x * 0.5 * (tir.call("erf", x * 0.7071067811865476) + 1.0)
    store = tir.LetStmt(x, X[r, c] + bias[c], Y.store((r, c), gelu))
    if cols % 4:
        inner = For(v, 0, 4, "vectorized", IfThenElse(c < cols, store))
    else:
        inner = IfThenElse(c0 < cols, For(v, 0, 4, "vectorized", store))
    return PrimFunc("gelu_bias", (X, bias, Y), For(r, 0, rows, "blockIdx.y", For(
        bx, 0, -(-cols // (4 * threads)), "blockIdx.x", For(tx, 0, threads, "threadIdx.x", inner))))


def _block_reduce(red: Buffer, threads: int, combine) -> tir.Stmt:
    """Tree reduction of red[0:T] into red[0]: halving phases separated by barriers."""
    phases, s = [], threads // 2
    while s >= 1:
        t = Var("t")
        phases += [For(t, 0, s, "threadIdx.x", red.store(t, combine(red[t], red[t + s]))),
                   Barrier()]
        s //= 2
    return seq(*phases)


def softmax(rows: int, cols: int, threads: int = 128) -> PrimFunc:
    """One block per row, T threads striding over its columns:
         for r in blockIdx.x(0, rows):
           mx, sm = allocate(float32, [T], shared) x 2
           for t in threadIdx.x(0, T): mx[t] = max over c = t, t + T, ... of X[r, c]
           barrier; tree-reduce mx into mx[0] (phases on threadIdx.x, barriers between)
           for t in threadIdx.x(0, T): sm[t] = sum of exp(X[r, c] - mx[0]); barrier; reduce sm
           for t in threadIdx.x(0, T): Y[r, c] = exp(X[r, c] - mx[0]) / sm[0]"""
    X, Y = Buffer("X", "float32", (rows, cols)), Buffer("Y", "float32", (rows, cols))
    mx, sm = (Buffer(n, "float32", (threads,), scope="shared") for n in ("mx", "sm"))
    r, steps = Var("r"), -(-cols // threads)

    def strided(init, update, out):
        t, k = Var("t"), Var("k")
        acc = Buffer("acc", "float32", (1,), scope="local")
        c = k * threads + t
        loop = For(k, 0, steps, "serial", IfThenElse(c < cols, acc.store(0, update(acc[0], c))))
        return For(t, 0, threads, "threadIdx.x",
                   Allocate(acc, seq(acc.store(0, init), loop, out.store(t, acc[0]))))

    t, k = Var("t"), Var("k")
    c = k * threads + t
    shifted = lambda c: tir.call("exp", X[r, c] - mx[0])  # noqa: E731
    body = seq(strided(-math.inf, lambda a, c: tir.max_(a, X[r, c]), mx), Barrier(),
               _block_reduce(mx, threads, tir.max_),
               strided(0.0, lambda a, c: a + shifted(c), sm), Barrier(),
               _block_reduce(sm, threads, lambda a, b: a + b),
               For(t, 0, threads, "threadIdx.x", For(k, 0, steps, "serial", IfThenElse(
                   c < cols, Y.store((r, c), shifted(c) / sm[0])))))
    return PrimFunc("softmax", (X, Y), For(r, 0, rows, "blockIdx.x",
                                           Allocate(mx, Allocate(sm, body))))


def tiled_gemm(M: int, N: int, K: int, tile: int = 32, bk: int = 8, per: int = 2) -> PrimFunc:
    """C = A @ B; a block computes a tile x tile block of C, each thread per x per of it:
         for by in blockIdx.y, bx in blockIdx.x:
           As = allocate(float32, [tile * bk], shared); Bs = allocate([bk * tile], shared)
           for ty in threadIdx.y(0, tile / per): for tx in threadIdx.x(0, tile / per):
             acc = allocate(float32, [per, per], local); acc = 0
             for ko in serial(0, ceil(K / bk)):
               As[ty, tx], Bs[ty, tx] = padded tile loads (one cell per thread); barrier
               for k in serial(0, bk): for i, j in unrolled(per, per):
                 acc[i, j] += As[ty * per + i, k] * Bs[k, tx * per + j]
               barrier
             C[...] = acc where inside M x N"""
    A, B, C = Buffer("A", "float32", (M, K)), Buffer("B", "float32", (K, N)), \
        Buffer("C", "float32", (M, N))
    As, Bs = Buffer("As", "float32", (tile, bk), scope="shared"), \
        Buffer("Bs", "float32", (bk, tile), scope="shared")
    acc = Buffer("acc", "float32", (per, per), scope="local")
    by, bx, ty, tx, ko, k = (Var(n) for n in ("by", "bx", "ty", "tx", "ko", "k"))
    side = tile // per
    assert side * side == tile * bk, "one tile cell per thread"
    tid = ty * side + tx

    def padded(buf, row, col, rows, cols):
        inside = (row < rows) & (col < cols)
        return tir.select(inside, buf[row, col], 0.0)

    def over_acc(make):
        i, j = Var("i"), Var("j")
        return For(i, 0, per, "unrolled", For(j, 0, per, "unrolled", make(i, j)))

    a_row, a_col = tid // bk, tid % bk
    b_row, b_col = tid // tile, tid % tile
    row, col = lambda i: by * tile + ty * per + i, lambda j: bx * tile + tx * per + j  # noqa: E731
    step = seq(
        As.store((a_row, a_col), padded(A, by * tile + a_row, ko * bk + a_col, M, K)),
        Bs.store((b_row, b_col), padded(B, ko * bk + b_row, bx * tile + b_col, K, N)),
        Barrier(),
        For(k, 0, bk, "serial", over_acc(lambda i, j: acc.store(
            (i, j), acc[i, j] + As[ty * per + i, k] * Bs[k, tx * per + j]))),
        Barrier())
    thread = Allocate(acc, seq(
        over_acc(lambda i, j: acc.store((i, j), 0.0)),
        For(ko, 0, -(-K // bk), "serial", step),
        over_acc(lambda i, j: IfThenElse((row(i) < M) & (col(j) < N),
                                         C.store((row(i), col(j)), acc[i, j])))))
    threads = For(ty, 0, side, "threadIdx.y", For(tx, 0, side, "threadIdx.x", thread))
    blocks = For(by, 0, -(-M // tile), "blockIdx.y", For(bx, 0, -(-N // tile), "blockIdx.x",
                                                         Allocate(As, Allocate(Bs, threads))))
    return PrimFunc("tiled_gemm", (A, B, C), blocks)


# ---------------------------------------------------------------- source text + nvcc


@needs_nvcc
def test_nvcc_rejects_broken_source(tmp_path):
    """The compile check has teeth."""
    assert nvcc('extern "C" __global__ void k(float* a) { a[0] = b; }', tmp_path,
                "--ptx", "-o", "/dev/null").returncode != 0


def test_add_with_tail(tmp_path):
    src = cuda_source(add(1000))
    assert launch_dims(add(1000)) == ((4, 1, 1), (256, 1, 1))
    assert 'extern "C" __global__ void __launch_bounds__(256) add(' in src
    assert "const float* __restrict__ A" in src and "float* __restrict__ C" in src
    assert "const float* __restrict__ C" not in src
    assert "(int)blockIdx.x" in src and "(int)threadIdx.x" in src
    assert "< 1000)" in src
    assert_compiles(src, tmp_path)


@pytest.mark.parametrize("cols, wide", [(1000, True), (1002, False)])
def test_gelu_epilogue(tmp_path, cols, wide):
    """Rows of 1000 floats are 16-byte aligned: float4 loads/stores; 1002 are not: per lane."""
    src = cuda_source(gelu_bias(3, cols))
    assert "erff(" in src and "0.7071067690849304f" in src
    assert ("reinterpret_cast<const float4*>" in src) == wide
    assert ("make_float4" in src) == wide
    assert "const float x_3 = " in src  # the vector let, one scalar per lane
    assert launch_dims(gelu_bias(3, cols)) == ((-(-cols // 256), 3, 1), (64, 1, 1))
    assert_compiles(src, tmp_path)


def test_softmax_shared_memory_and_barriers(tmp_path):
    src = cuda_source(softmax(4, 1000))
    assert "__shared__ __align__(16) float mx[128];" in src
    assert "__shared__ __align__(16) float sm[128];" in src
    assert src.count("__syncthreads();") == 2 + 2 * 7  # after each fill and each halving
    assert "if (threadIdx.x < 64)" in src  # a reduction phase narrower than the block
    assert src.count("if (threadIdx.x < 1)") == 2  # the last phase: thread 0 alone, not all
    assert "__expf(" in src and "tf_fmax<float>(" in src and "__int_as_float(0xff800000)" in src
    assert src.count("T tf_fmax(T a, T b)") == 1 and "fmaxf(" not in src  # NaN-propagating
    assert "expf(" in cuda_source(softmax(4, 1000), fast_math=False).replace("__expf", "")
    assert launch_dims(softmax(4, 1000)) == ((4, 1, 1), (128, 1, 1))
    assert_compiles(src, tmp_path)


def test_tiled_gemm(tmp_path):
    func = tiled_gemm(100, 70, 45)
    src = cuda_source(func)
    assert launch_dims(func) == ((3, 4, 1), (16, 16, 1))
    assert "__shared__ __align__(16) float As[256];" in src
    assert "float acc[4];" in src and "#pragma unroll" in src
    assert src.count("__syncthreads();") == 2
    assert "(int)threadIdx.y" in src and "(int)blockIdx.y" in src
    assert "tf_floordiv" not in src  # tid // 8 with tid >= 0: plain `/`
    assert_compiles(src, tmp_path)


# ---------------------------------------------------------------- expressions


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 70), st.integers(1, 5))
def test_vectorized_loops_any_extent(n, m):
    """Any extent and tail: float4 where a chunk start is provably aligned, else per lane."""
    A, C = Buffer("A", "float32", (m, n)), Buffer("C", "float32", (m, n))
    r, j = Var("r"), Var("j")
    func = PrimFunc("scale", (A, C), For(r, 0, m, "blockIdx.x", For(
        j, 0, n, "vectorized", C.store((r, j), tir.call("sigmoid", A[r, j] * 1.5)))))
    src = cuda_source(func)
    assert ("make_float4" in src) == (n % 4 == 0)  # rows start at r * n
    assert "1.0f / (1.0f + __expf(-" in src
    with tempfile.TemporaryDirectory() as tmp:
        assert_compiles(src, pathlib.Path(tmp))


def test_integer_floordiv_floormod_exact(tmp_path):
    """Helpers round toward -inf (0 for a zero divisor), checked on the host against Python."""
    A, Q, R = Buffer("A", "int32", (8,)), Buffer("Q", "int32", (8,)), Buffer("R", "int32", (8,))
    i = Var("i")
    a, b = A[i], A[i + 0] - 3
    func = PrimFunc("divmod", (A, Q, R), For(i, 0, 8, "threadIdx.x",
                                             seq(Q.store(i, a // b), R.store(i, a % b))))
    src = cuda_source(func)
    assert "tf_floordiv<int>(" in src and "tf_floormod<int>(" in src
    assert_compiles(src, tmp_path)
    if NVCC is None:
        return
    pairs = [(a, b) for a in (-7, -6, -1, 0, 1, 6, 7) for b in (-3, -2, 2, 3, 0)]
    checks = "\n".join(f'  printf("%d %d\\n", tf_floordiv<int>({a}, {b}), '
                       f'tf_floormod<int>({a}, {b}));' for a, b in pairs)
    helpers = src[:src.index('extern "C"')]
    host = f"#include <cstdio>\n{helpers}\nint main() {{\n{checks}\n}}\n"
    exe = tmp_path / "divmod"
    assert nvcc(host, tmp_path, "-o", str(exe)).returncode == 0
    got = subprocess.run([str(exe)], capture_output=True, text=True).stdout.split("\n")
    want = [f"{a // b} {a % b}" if b else "0 0" for a, b in pairs]
    assert got[:len(want)] == want


def test_casts_selects_lets_and_names(tmp_path):
    """Two distinct Vars named "i" get distinct C names; reserved words are renamed."""
    A, Y = Buffer("A", "float64", (16,)), Buffer("int", "int64", (16,))
    i, inner, let = Var("i"), Var("i"), Var("threadIdx", "float64")
    body = For(i, 0, 4, "threadIdx.x", For(inner, 0, 4, "unrolled", tir.LetStmt(
        let, tir.call("tanh", A[i * 4 + inner]),
        Y.store(i * 4 + inner, tir.cast("int64", tir.select(let > 0.25, let * 2.0, -1.5))))))
    src = cuda_source(PrimFunc("misc", (A, Y), body))
    assert "long long* __restrict__ _int" in src and "const double* __restrict__ A" in src
    assert "const int i = (int)threadIdx.x;" in src and "for (int i_1 = 0" in src
    assert "const double _threadIdx = tanh(" in src and "((long long)(" in src
    assert_compiles(src, tmp_path)


def test_scalar_params_and_dynamic_index_type(tmp_path):
    """A runtime extent is a by-value parameter and makes indices 64-bit."""
    n = Var("n")
    A = Buffer("A", "float32", (n,))
    tx = Var("tx")
    body = For(tx, 0, 256, "threadIdx.x", tir.For(Var("k"), 0, n, "serial", A.store(tx, 1.0)))
    src = cuda_source(PrimFunc("fill", (A, n), body))
    assert "long long n" in src and "const long long tx = (long long)threadIdx.x;" in src
    assert_compiles(src, tmp_path)


# ---------------------------------------------------------------- errors


def _one_loop(kind: str, extent=8, body=None) -> PrimFunc:
    A = Buffer("A", "float32", (4096,))
    i = Var("i")
    return PrimFunc("bad", (A,), For(i, 0, extent, kind, body or A.store(i, 1.0)))


@pytest.mark.parametrize("func, message", [
    (_one_loop("parallel"), "CPU-parallel loops do not run on a GPU"),
    (_one_loop("threadIdx.x", 2048), "CUDA allows at most 1024"),
    (_one_loop("blockIdx.x", Var("n")), "launch dimensions must be constants"),
    (_one_loop("threadIdx.x", 8, _one_loop("blockIdx.x").body), "nests inside a threadIdx loop"),
    (_one_loop("threadIdx.x", 8, _one_loop("threadIdx.x", 16).body), "cannot be wider"),
    (_one_loop("vectorized", 8, Barrier()), "barrier inside a vectorized loop"),
    (_one_loop("vectorized", 4, _one_loop("threadIdx.x").body), "nests inside a vectorized"),
])
def test_invalid_kernels_are_clear_errors(func, message):
    with pytest.raises(CudaCodegenError, match=message):
        cuda_source(func)


def test_barrier_under_a_partial_thread_guard_is_refused():
    A = Buffer("A", "float32", (64,))
    t, u = Var("t"), Var("u")
    body = seq(For(t, 0, 64, "threadIdx.x", A.store(t, 0.0)),
               For(u, 0, 32, "threadIdx.x", seq(A.store(u, 1.0), Barrier())))
    with pytest.raises(CudaCodegenError, match="not every thread would reach it"):
        cuda_source(PrimFunc("deadlock", (A,), body))


def test_barrier_under_a_thread_dependent_if_is_refused():
    A = Buffer("A", "float32", (64,))
    t = Var("t")
    body = For(t, 0, 64, "threadIdx.x", IfThenElse(t < 32, seq(A.store(t, 0.0), Barrier())))
    with pytest.raises(CudaCodegenError, match="an `if` on a thread index"):
        cuda_source(PrimFunc("divergent", (A,), body))


def test_allocations_must_fit_static_shared_memory():
    big = Buffer("big", "float32", (16384,), scope="shared")
    A = Buffer("A", "float32", (1,))
    func = PrimFunc("big", (A,), Allocate(big, seq(big.store(0, 1.0), A.store(0, big[0]))))
    with pytest.raises(CudaCodegenError, match="65536 bytes of shared memory"):
        cuda_source(func)
