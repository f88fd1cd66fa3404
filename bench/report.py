"""Measure every case of bench/cases.py (operators and models) against its peers at 1 and 2
threads and write docs/benchmarks.md (speedup tables, times, machine and versions) and
docs/benchmarks.png (bar chart of the speedups).

    python bench/report.py                      # ~5 minutes
    python bench/report.py --threads 1 --cases "gemm 512x512x512,resnet18" --out /tmp/b.md

Each thread count has its own child process, because NumPy's OpenBLAS fixes its thread
count (OPENBLAS_NUM_THREADS) when numpy loads. The parent asks the children in turn for a
block: each contender of each case timed with tensorforge.benchmark.time_calls (contenders
in blocks, never call by call: one pool's idle spinning threads would steal the cores of the
other). A contender's time is its fastest run over all blocks, the figure least disturbed
by the other processes of a shared machine.
Speedup = peer time / TensorForge time (above 1: TensorForge is faster).
"""

import os
import sys

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine pins slow kernels
    os.environ.pop(_var, None)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("onnxruntime", "numpy")
# (repeat, min_seconds) per block for time_calls
BLOCK = {"operator": (20, 0.15), "model": (5, 0.2)}


def prepare(threads: int, names: list[str]) -> tuple[dict, dict]:
    """Check and set up each case: (case -> contender -> callable, case -> error)."""
    from cases import CASES, check, contenders

    runs, errors = {}, {}
    for name in names:
        try:
            check(CASES[name], threads)
            runs[name] = contenders(CASES[name], threads)
        except Exception as e:  # a broken case is reported in its row; the others still run
            errors[name] = f"{type(e).__name__}: {e}".splitlines()[0][:200]
    return runs, errors


def block(runs: dict) -> dict:
    """One timed block of every contender of every case: case -> contender -> (best, p50) ms."""
    from cases import CASES
    from tensorforge.benchmark import time_calls

    out = {}
    for name, contenders in runs.items():
        repeat, min_seconds = BLOCK[CASES[name].kind]
        out[name] = {}
        for who, run in contenders.items():
            time.sleep(0.05)  # let the previous contender's worker threads go idle
            lat = time_calls(run, warmup=2, repeat=repeat, min_seconds=min_seconds)
            out[name][who] = (min(lat.samples) * 1e3, lat.p50 * 1e3)
    return out


def child(threads: int, names: list[str]) -> None:
    """Serve the parent over stdin/stdout: one JSON line when set up (the errors), then one
    JSON line of times per line read."""
    runs, errors = prepare(threads, names)
    print(json.dumps(errors), flush=True)
    for _ in sys.stdin:
        print(json.dumps(block(runs)), flush=True)


def measure(thread_counts: list[int], names: list[str], blocks: int) -> dict[int, dict]:
    """threads -> case -> {"kind", "best_ms": {contender: ms}, "median_ms": {...},
    "worst_median_ms": {...}} or {"kind", "error"}. A child process per thread count holds its compiled cases; the parent
    asks them for blocks in turn, so every case and thread count sees the machine's load
    over the whole run, not one stretch of it."""
    from cases import CASES

    children, results = {}, {}
    for threads in thread_counts:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
                   TENSORFORGE_NUM_THREADS=str(threads))
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(threads), "--cases",
                                 ",".join(names)], env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        children[threads] = proc
        errors = json.loads(proc.stdout.readline())
        results[threads] = {n: {"kind": CASES[n].kind, **({"error": errors[n]} if n in errors
                                else {"best_ms": {}, "median_ms": {}, "worst_median_ms": {}})}
                              for n in names}
    for i in range(blocks):
        for threads, proc in children.items():
            time.sleep(0.1)  # the other child's worker threads go idle
            proc.stdin.write("\n")
            proc.stdin.flush()
            for name, times in json.loads(proc.stdout.readline()).items():
                row = results[threads][name]
                for who, (best, median) in times.items():
                    row["best_ms"][who] = min(row["best_ms"].get(who, math.inf), best)
                    row["median_ms"][who] = min(row["median_ms"].get(who, math.inf), median)
                    row["worst_median_ms"][who] = max(row["worst_median_ms"].get(who, 0), median)
        print(f"block {i + 1}/{blocks} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr,
              flush=True)
    for proc in children.values():
        proc.stdin.close()
        proc.wait()
    return results


def speedup(row: dict, peer: str) -> float | None:
    times = row.get("best_ms", {})
    return times[peer] / times["tensorforge"] if peer in times else None


def speedup_columns(results: dict[int, dict], kind: str) -> list[tuple[str, str, int]]:
    """(header, peer, threads) for each peer that has a figure in some `kind` row."""
    return [(f"vs {peer}, {t} thr", peer, t) for peer in PEERS for t in results
            if any(speedup(r, peer) for r in results[t].values() if r["kind"] == kind)]


def geomean(xs: list[float]) -> float:
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else math.nan


def speedup_table(results: dict[int, dict], names: list[str], kind: str) -> list[str]:
    cols = speedup_columns(results, kind)
    rows = [n for n in names if results[next(iter(results))][n]["kind"] == kind]
    lines = [f"| {kind} | " + " | ".join(h for h, _, _ in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for name in rows:
        cells = []
        for _, peer, t in cols:
            row = results[t][name]
            s = speedup(row, peer)
            cells.append("error" if "error" in row else f"{s:.2f}x" if s else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    means = [geomean([s for n in rows if (s := speedup(results[t][n], peer))])
             for _, peer, t in cols]
    lines.append("| **geometric mean** | " + " | ".join(f"**{m:.2f}x**" for m in means) + " |")
    return lines


def times_table(results: dict[int, dict], names: list[str]) -> list[str]:
    lines = ["| case | threads | " + " | ".join(("tensorforge",) + PEERS) + " |",
             "|---|---:|" + "---:|" * (1 + len(PEERS))]
    for name in names:
        for t, res in results.items():
            row = res[name]
            if "error" in row:
                lines.append(f"| {name} | {t} | {row['error']} |" + " |" * len(PEERS))
                continue
            cells = [f"{row['best_ms'][w]:.3f} ({row['median_ms'][w]:.3f}, "
                     f"{row['worst_median_ms'][w]:.3f})"
                     if w in row["best_ms"] else "-" for w in ("tensorforge",) + PEERS]
            lines.append(f"| {name} | {t} | " + " | ".join(cells) + " |")
    return lines


def machine_lines(thread_counts: list[int], loads: tuple) -> list[str]:
    from tensorforge.benchmark import cpu_name
    from tensorforge.codegen import Target

    target = Target.parse("llvm")
    versions = ", ".join(f"{p} {version(p)}" for p in
                         ("tensorforge", "numpy", "onnxruntime", "onnx", "llvmlite"))
    return [
        f"- date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores, shared with other jobs",
        f"- target: `llvm` (host: {target.cpu}, {target.vector_bits}-bit SIMD)",
        f"- threads: {', '.join(map(str, thread_counts))} (TensorForge TENSORFORGE_NUM_THREADS, "
        "ONNX Runtime intra_op_num_threads with ORT_ENABLE_ALL, NumPy OPENBLAS_NUM_THREADS)",
        f"- versions: Python {sys.version.split()[0]}, {versions}",
        f"- load average (1 min) at start / end: {loads[0]:.2f} / {loads[1]:.2f}",
    ]


def write_markdown(path: Path, results: dict[int, dict], names: list[str], loads: tuple,
                   blocks: int, chart: str) -> None:
    lines = ["# Benchmarks", "",
             "Generated by `python bench/report.py`; do not edit by hand. Speedup = peer time / "
             "TensorForge time (above 1: TensorForge is faster), each measured in the same run "
             f"on the same inputs. Each contender is timed in {blocks} alternating blocks "
             "(`tensorforge.benchmark.time_calls`); its time is its fastest run. The cases are "
             "defined in `bench/cases.py` (operators: one small ONNX model each; models: "
             "`/work/shared/models` and built-in workloads).", "",
             *machine_lines(list(results), loads), "",
             "## Models", "", *speedup_table(results, names, "model"), "",
             "## Operators", "", *speedup_table(results, names, "operator"), "",
             f"![speedup per model and operator]({chart})", "",
             "## Times", "", "Milliseconds: fastest run (median of the best block, median of the worst "
             "block). A worst-block median far above the others shows a contender that stalls "
             "when another process takes one of its cores.", "",
             *times_table(results, names), ""]
    path.write_text("\n".join(lines))


def write_chart(path: Path, results: dict[int, dict], names: list[str]) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ("model", "operator")
    first = results[next(iter(results))]
    rows = {k: [n for n in names if first[n]["kind"] == k] for k in kinds}
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        cols = speedup_columns(results, kind)
        height = 0.8 / max(len(cols), 1)
        values = [1.0]
        for i, (label, peer, t) in enumerate(cols):
            xs = [speedup(results[t][n], peer) or 1.0 for n in rows[kind]]
            values += xs
            ax.barh([j + i * height for j in range(len(xs))], [x - 1 for x in xs], height,
                    left=1.0, label=label)  # bars grow from 1: right faster, left slower
        ax.set_yticks([j + (len(cols) - 1) * height / 2 for j in range(len(rows[kind]))],
                      rows[kind])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 1.25, max(values) * 1.25)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}x"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("TensorForge speedup = peer time / TensorForge time (log scale)")
        ax.set_title(f"per {kind}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from cases import CASES

    names = args.cases.split(",") if args.cases else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    if args.child:
        child(args.child, names)
        return
    start_load = os.getloadavg()[0]
    results = measure([int(t) for t in args.threads.split(",")], names, args.blocks)
    chart = args.out.with_suffix(".png")
    write_chart(chart, results, names)
    write_markdown(args.out, results, names, (start_load, os.getloadavg()[0]), args.blocks,
                   chart.name)
    print(f"wrote {args.out} and {chart}")


if __name__ == "__main__":
    main()
