"""Strided vector access in the LLVM backend: each variant against the gather/scatter the
backend emitted before (switched back on in the same run) and NumPy.

    python bench/bench_strided.py

loads:  Y[c*16 : c*16+16] = X[ramp(c*16*s, s, 16)]   shuffle of s loads | gather | x[::s]
stores: K stores Y[ramp(t*K + k, 784, 16)] = X[...]  (conv2d's NCHW tile, 28x28 output)
        transpose + K-wide stores | scatter | K*16 scalar stores | NumPy transpose copy
Times are per output element (ns), best of 30; ratio = gather-or-scatter time / ours.
"""

import os
import sys
from contextlib import contextmanager

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "codegen"))
from test_strided import strided_copy  # noqa: E402

from tensorforge.benchmark import best_seconds  # noqa: E402
from tensorforge.codegen import llvm_strided  # noqa: E402
from tensorforge.codegen.llvm_build import build  # noqa: E402
from tensorforge.compiler.tir import Buffer, Const, For, Load, PrimFunc, Ramp, Store, Var, seq  # noqa: E402,E501

LANES, HW = 16, 784




@contextmanager
def patched(**values):
    old = {k: getattr(llvm_strided, k) for k in values}
    for k, v in values.items():
        setattr(llvm_strided, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(llvm_strided, k, v)


def bench_loads(n_vec: int = 4096) -> None:
    print(f"{'stride':>6} {'shuffle ns':>10} {'gather ns':>9} {'numpy ns':>8} {'ratio':>6}")
    for s in (2, 3, 4, 8):
        f = strided_copy(n_vec, s, LANES, "float32")
        x = np.random.default_rng(0).standard_normal(f.params[0].shape, "f4")
        y = np.empty(f.params[1].shape, "f4")
        ours = build(f)
        with patched(LOAD_STRIDES=()):
            gather = build(f)
        t = [best_seconds(lambda k=k: k(x, y)) for k in (ours, gather)]
        t.append(best_seconds(lambda: np.copyto(y, x[::s])))
        n = y.size
        print(f"{s:>6} {t[0] / n * 1e9:10.3f} {t[1] / n * 1e9:9.3f} {t[2] / n * 1e9:8.3f} "
              f"{t[1] / t[0]:6.2f}")


def tile_kernel(rows: int, scalar: bool = False) -> PrimFunc:
    """HW/rows tiles of `rows` strided vector stores (or rows*16 scalar ones)."""
    tiles = HW // rows
    X = Buffer("X", "float32", (tiles * rows * LANES,))
    Y = Buffer("Y", "float32", (LANES * HW,))
    t = Var("t")
    stores = []
    for k in range(rows):
        src = t * (rows * LANES) + k * LANES
        if scalar:
            stores += [Store(Y, t * rows + (k + j * HW), Load(X, src + j)) for j in range(LANES)]
        else:
            stores.append(Store(Y, Ramp(t * rows + k, Const(HW), LANES),
                                Load(X, Ramp(src, 1, LANES))))
    return PrimFunc(f"tile{rows}", (X, Y), For(t, 0, tiles, "serial", seq(*stores)))


def bench_stores() -> None:
    print(f"\n{'rows':>4} {'transpose ns':>12} {'scatter ns':>10} {'scalar ns':>9} "
          f"{'numpy ns':>8} {'ratio':>6}")
    for rows in (2, 4, 7, 8, 14, 16):
        f = tile_kernel(rows)
        x = np.random.default_rng(0).standard_normal(f.params[0].shape, "f4")
        y = np.empty(f.params[1].shape, "f4")
        with patched(MIN_TILE_ROWS=1):
            ours = build(f)
        with patched(MIN_TILE_ROWS=LANES + 1):
            scatter = build(f)
        kernels = (ours, scatter, build(tile_kernel(rows, scalar=True)))
        t = [best_seconds(lambda k=k: k(x, y)) for k in kernels]
        tiles = HW // rows
        src = x.reshape(tiles, rows, LANES)
        t.append(best_seconds(lambda: np.copyto(y.reshape(LANES, HW)[:, :tiles * rows].reshape(
            LANES, tiles, rows), src.transpose(2, 0, 1))))
        n = x.size
        print(f"{rows:>4} {t[0] / n * 1e9:12.3f} {t[1] / n * 1e9:10.3f} {t[2] / n * 1e9:9.3f} "
              f"{t[3] / n * 1e9:8.3f} {t[1] / t[0]:6.2f}")


if __name__ == "__main__":
    bench_loads()
    bench_stores()
