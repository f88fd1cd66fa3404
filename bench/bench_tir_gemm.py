"""GFLOP/s of the hand-written TIR GEMM micro-kernel against numpy.matmul (OpenBLAS).

    python bench/bench_tir_gemm.py [--sizes 256,512,1000,1024] [--threads 1,2]

Each thread count runs in a child process with TENSORFORGE_NUM_THREADS and
OPENBLAS_NUM_THREADS set to it, so both sides use the same number of cores. OpenBLAS
tuning overrides (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, set for the tests) are removed
before numpy loads, so OpenBLAS runs at full speed.
"""

import os
import sys

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import argparse  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "codegen"))
import tir_kernels  # noqa: E402

from tensorforge.benchmark import best_seconds  # noqa: E402
from tensorforge.codegen.llvm_build import build  # noqa: E402
from tensorforge.codegen.target import Target  # noqa: E402




def run_one(n: int) -> str:
    target = Target.parse("llvm")
    nr = 2 * target.vector_bits // 32  # two vector registers wide
    a, b = np.random.rand(n, n).astype("f4"), np.random.rand(n, n).astype("f4")
    c = np.empty((n, n), "f4")
    kernel = build(tir_kernels.gemm(n, n, n, mr=6, nr=nr), target)
    kernel(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3 * n)
    flops = 2.0 * n ** 3
    ours, ref = best_seconds(lambda: kernel(a, b, c)), best_seconds(lambda: np.matmul(a, b))
    return (f"{n:>6} {os.environ['TENSORFORGE_NUM_THREADS']:>3} {flops / ours / 1e9:10.1f} "
            f"{flops / ref / 1e9:10.1f} {ref / ours:8.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1000,1024")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        print(run_one(args.child), flush=True)
        return
    print(f"target: {Target.parse('llvm')}\n{'n':>6} {'thr':>3} {'TIR GF/s':>10} "
          f"{'numpy GF/s':>10} {'ratio':>8}")
    for threads in args.threads.split(","):
        env = dict(os.environ, TENSORFORGE_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        for n in args.sizes.split(","):
            subprocess.run([sys.executable, __file__, "--child", n], env=env, check=True)


if __name__ == "__main__":
    main()
