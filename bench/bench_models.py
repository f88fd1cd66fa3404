"""TensorForge against ONNX Runtime on the shared models, in one process run.

    python bench/bench_models.py                  # all models, 1 and 2 threads
    python bench/bench_models.py --models mlp,resnet18 --runs 50 --json out.json

Per model: compile time, then per thread count the median latency of `--runs` runs after
`--warmup` runs, TensorForge (TENSORFORGE_NUM_THREADS) and ONNX Runtime (ORT_ENABLE_ALL,
intra_op_num_threads the same) measured alternately in blocks, so machine noise hits both.
The ratio is TensorForge / ORT (below 1: TensorForge is faster). A model that fails to
compile or to match its reference is reported in its row, and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import tensorforge
from tensorforge.benchmark import cpu_name, onnxruntime_runner, time_calls

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
NAMES = ["mlp", "convbnrelu", "resnet18", "mobilenetv2", "bert_mini"]


def median_seconds(fn, runs: int, warmup: int) -> float:
    return time_calls(fn, warmup, runs, min_seconds=0.0).p50


def bench_model(name: str, target: str, threads: list[int], runs: int, warmup: int,
                blocks: int = 3) -> dict:
    ref = np.load(MODELS / f"{name}.npz")
    feeds = {k: ref[k] for k in ref.files if not k.startswith("output_")}
    row = {"model": name}
    try:
        start = time.perf_counter()
        mod = tensorforge.compile(MODELS / f"{name}.onnx", target=target)
        row["compile_s"] = time.perf_counter() - start
        got = mod.run(**feeds)
        row["max_abs_err"] = max(float(np.max(np.abs(g - ref[f"output_{i}"])))
                                 for i, g in enumerate(got))
        row["arena_bytes"] = mod.memory_plan.arena_bytes
        row["naive_bytes"] = mod.memory_plan.naive_bytes
    except Exception as e:  # noqa: BLE001 - the table reports it; the other models still run
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return row
    for t in threads:
        os.environ["TENSORFORGE_NUM_THREADS"] = str(t)
        run_ort = onnxruntime_runner((MODELS / f"{name}.onnx").read_bytes(), feeds, t)
        per = max(runs // blocks, 1)
        tf_times, ort_times = [], []
        for _ in range(blocks):
            tf_times.append(median_seconds(lambda: mod.run(**feeds), per, warmup))
            ort_times.append(median_seconds(run_ort, per, warmup))
        row[f"tf_ms_{t}t"] = min(tf_times) * 1e3
        row[f"ort_ms_{t}t"] = min(ort_times) * 1e3
        row[f"ratio_{t}t"] = row[f"tf_ms_{t}t"] / row[f"ort_ms_{t}t"]
    return row


def table(rows: list[dict], threads: list[int]) -> str:
    head = ["model", "compile s"] + [c for t in threads
                                     for c in (f"TF ms {t}t", f"ORT ms {t}t", f"TF/ORT {t}t")]
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append([r["model"], r["error"]])
            continue
        lines.append([r["model"], f"{r['compile_s']:.1f}"] + [
            c for t in threads for c in (f"{r[f'tf_ms_{t}t']:.3f}", f"{r[f'ort_ms_{t}t']:.3f}",
                                         f"{r[f'ratio_{t}t']:.2f}")])
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(len(head))]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"
                     for line in lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(NAMES))
    ap.add_argument("--target", default="llvm")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    target = tensorforge.Target.parse(args.target)
    rows = []
    for name in args.models.split(","):
        rows.append(bench_model(name, target, threads, args.runs, args.warmup))
        print(f"{name}: done", file=sys.stderr, flush=True)
    info = {"cpu": cpu_name(), "target": str(target), "onnxruntime": ort.__version__,
            "tensorforge": tensorforge.__version__, "runs": args.runs, "rows": rows}
    print(f"CPU: {info['cpu']}\ntarget: llvm -mcpu={target.cpu} ({target.vector_bits}-bit SIMD; "
          f"full string in --json)\nONNX Runtime {ort.__version__}, "
          f"median of {args.runs} runs (best of 3 blocks)\n")
    print(table(rows, threads))
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
