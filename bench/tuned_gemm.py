"""GEMM 1024 (the gemm1024 workload) compiled untuned and with a tuning database, against
numpy.matmul, in one process on the same threads:

    python bench/tuned_gemm.py --db tuning.db [--threads 2] [--repeat 10]

Each side is timed in alternating blocks (bench_dense.best: best of `repeat` runs per block,
3 blocks), so background load hits all three alike; the ratios are the result.
"""

import os

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import argparse  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--threads", default="2")
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    os.environ["TENSORFORGE_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = args.threads

    import numpy as np
    from bench_dense import best
    from onnx import numpy_helper

    import tensorforge
    from tensorforge import workloads

    model, feeds = workloads.get("gemm1024")
    (x,) = feeds.values()
    w = numpy_helper.to_array(model.graph.initializer[0])
    modules = {"untuned": tensorforge.compile(model, "llvm"),
               "tuned": tensorforge.compile(model, "llvm", tuning_db=args.db)}
    for name, m in modules.items():
        np.testing.assert_allclose(m.run(x)[0], x @ w, rtol=1e-4, atol=1e-3)
    sides = {**{k: (lambda m=m: m.run(x)) for k, m in modules.items()},
             "numpy": lambda: np.matmul(x, w)}
    times = dict.fromkeys(sides, float("inf"))
    for _ in range(3):
        for k, fn in sides.items():
            times[k] = min(times[k], best(fn, args.repeat))
    flops = 2.0 * 1024 ** 3
    print(f"{tensorforge.Target.parse('llvm').cpu}, {args.threads} threads, "
          f"load {os.getloadavg()[0]:.2f}")
    for k, t in times.items():
        print(f"{k:>8}: {flops / t / 1e9:7.1f} GFLOP/s  ({times['numpy'] / t:.2f}x numpy)")
    for k, m in modules.items():
        print(f"{k} config: {m.kernels[0].config}")


if __name__ == "__main__":
    main()
