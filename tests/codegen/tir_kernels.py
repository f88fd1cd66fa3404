"""Hand-written loop-IR kernels used by the codegen tests and bench/bench_tir_gemm.py."""

from __future__ import annotations

from tensorforge.compiler import tir
from tensorforge.compiler.tir import Allocate, Buffer, For, PrimFunc, Var, seq


def unary(name: str, n: int, fn, dtype: str = "float32", kind: str = "vectorized") -> PrimFunc:
    """for i in vectorized(0, n): Y[i] = fn(X[i])"""
    X, Y = Buffer("X", dtype, (n,)), Buffer("Y", dtype, (n,))
    i = Var("i")
    return PrimFunc(name, (X, Y), For(i, 0, n, kind, Y.store(i, fn(X[i]))))


def add(n: int, dtype: str = "float32") -> PrimFunc:
    """for i in vectorized(0, n): C[i] = A[i] + B[i]"""
    A, B, C = (Buffer(x, dtype, (n,)) for x in "ABC")
    i = Var("i")
    return PrimFunc("add", (A, B, C), For(i, 0, n, "vectorized", C.store(i, A[i] + B[i])))


def row_sum(rows: int, cols: int, outer: str = "parallel") -> PrimFunc:
    """for i in parallel(0, rows):
         acc[0] = 0
         for j in serial(0, cols): acc[0] = acc[0] + A[i, j]
         S[i] = acc[0]"""
    A, S = Buffer("A", "float32", (rows, cols)), Buffer("S", "float32", (rows,))
    acc = Buffer("acc", "float32", (1,), scope="local")
    i, j = Var("i"), Var("j")
    body = Allocate(acc, seq(acc.store(0, 0.0),
                             For(j, 0, cols, "serial", acc.store(0, acc[0] + A[i, j])),
                             S.store(i, acc[0])))
    return PrimFunc("row_sum", (A, S), For(i, 0, rows, outer, body))


def _gemm_tile(A, B, C, rows: tuple, cols: tuple) -> tir.Stmt:
    """One region of C: `rows` = (first row, tile count, tile height), `cols` likewise.

        for io in parallel(0, row tiles):
          for jo in serial(0, col tiles):
            acc = allocate(float32, [mr, nr], local)
            for ii in unrolled(0, mr): for jj in vectorized(0, nr): acc[ii, jj] = 0
            for k in serial(0, K):
              for ii in unrolled(0, mr): for jj in vectorized(0, nr):
                acc[ii, jj] = acc[ii, jj] + A[i0 + ii, k] * B[k, j0 + jj]
            for ii in unrolled(0, mr): for jj in vectorized(0, nr): C[i0 + ii, j0 + jj] = acc[ii, jj]
    """
    (r0, rt, mr), (c0, ct, nr) = rows, cols
    K = A.shape[1]
    io, jo, k = Var("io"), Var("jo"), Var("k")
    acc = Buffer("acc", "float32", (mr, nr), scope="local")
    i0, j0 = r0 + io * mr, c0 + jo * nr

    def over_tile(make):
        ii, jj = Var("ii"), Var("jj")
        return For(ii, 0, mr, "unrolled", For(jj, 0, nr, "vectorized", make(ii, jj)))

    body = seq(
        over_tile(lambda ii, jj: acc.store((ii, jj), 0.0)),
        For(k, 0, K, "serial", over_tile(lambda ii, jj: acc.store(
            (ii, jj), acc[ii, jj] + A[i0 + ii, k] * B[k, j0 + jj]))),
        over_tile(lambda ii, jj: C.store((i0 + ii, j0 + jj), acc[ii, jj])),
    )
    return For(io, 0, rt, "parallel", For(jo, 0, ct, "serial", Allocate(acc, body)))


def gemm(M: int, N: int, K: int, mr: int = 6, nr: int = 32) -> PrimFunc:
    """C = A @ B with an mr x nr register tile; edge rows/columns get smaller tiles."""
    A, B, C = Buffer("A", "float32", (M, K)), Buffer("B", "float32", (K, N)), \
        Buffer("C", "float32", (M, N))
    row_regions = [(0, M // mr, mr), (M // mr * mr, 1, M % mr)]
    col_regions = [(0, N // nr, nr), (N // nr * nr, 1, N % nr)]
    tiles = [_gemm_tile(A, B, C, r, c) for r in row_regions for c in col_regions
             if r[1] and r[2] and c[1] and c[2]]
    return PrimFunc("gemm", (A, B, C), seq(*tiles))
