"""GFLOP/s of the default dense schedule (compiler/templates/dense.py) against numpy.matmul.

    python bench/bench_dense.py [--sizes 256,512,1024,2048] [--threads 1,2] [--repeat 10]

Each thread count runs in a child process with TENSORFORGE_NUM_THREADS and
OPENBLAS_NUM_THREADS set (threadpoolctl also limits BLAS when installed). OpenBLAS overrides
(OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) are removed before numpy loads. Ours and numpy are
timed in alternating blocks (3 each, `repeat` runs per block, best run kept): interleaving
single calls would let our pool's and OpenBLAS's spinning idle threads steal the cores from
each other. Other processes share the CPU, so the 1-minute load average is printed per row.
"""

import os
import sys

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tensorforge.codegen as codegen  # noqa: E402
from tensorforge.benchmark import best_seconds  # noqa: E402
from tensorforge.compiler import te  # noqa: E402
from tensorforge.compiler.templates.dense import default_config, dense, dense_schedule  # noqa: E402


def build(n: int, target):
    cfg = default_config(n, n, n, target)
    A, B = te.placeholder((n, n), name="A"), te.placeholder((n, n), name="B")
    C = dense(A, B, cfg)
    return codegen.build(te.lower(dense_schedule([C], cfg, target), [A, B, C], name="dense"),
                         target), cfg


def best(fn, repeat: int) -> float:
    time.sleep(0.1)  # let the other library's worker threads stop spinning
    return best_seconds(fn, repeat)


def run_one(n: int, repeat: int) -> str:
    threads = os.environ["TENSORFORGE_NUM_THREADS"]
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(int(threads))
    except ImportError:
        pass
    target = codegen.Target.parse("llvm")
    kernel, cfg = build(n, target)
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), "f4"), rng.random((n, n), "f4")
    c = np.empty((n, n), "f4")
    kernel(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4 * n)
    ours = ref = float("inf")
    for _ in range(3):  # blocks of each side in turn: both see similar background load,
        ours = min(ours, best(lambda: kernel(a, b, c), repeat))  # and neither runs while
        ref = min(ref, best(lambda: np.matmul(a, b), repeat))    # the other's threads spin
    flops = 2.0 * n ** 3
    knobs = f"mr={cfg['mr']} nr={cfg['nr']} mb={cfg['mb']} pack={int(cfg['pack_b'])}"
    return (f"{n:>6} {threads:>3} {flops / ours / 1e9:9.1f} {flops / ref / 1e9:10.1f} "
            f"{ref / ours:6.2f} {os.getloadavg()[0]:6.2f}  {knobs}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        print(run_one(args.child, args.repeat), flush=True)
        return
    print(f"target: {codegen.Target.parse('llvm').cpu}\n"
          f"{'n':>6} {'thr':>3} {'ours GF/s':>9} {'numpy GF/s':>10} {'ratio':>6} {'load':>6}  config",
          flush=True)
    for threads in args.threads.split(","):
        env = dict(os.environ, TENSORFORGE_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        for n in args.sizes.split(","):
            subprocess.run([sys.executable, __file__, "--child", n, "--repeat",
                            str(args.repeat)], env=env, check=True)


if __name__ == "__main__":
    main()
