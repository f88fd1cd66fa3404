"""Tuning curves: does the XGBoost tuner reach a fast config in fewer trials than random search?

    TENSORFORGE_NUM_THREADS=1 python bench/tuning_curves.py measure --db curves.db --sample 300
    python bench/tuning_curves.py report --db curves.db --plot docs/tuning-curves.png

`measure` times a fixed random sample (seed 0, up to --sample configs; the whole space when
smaller) of each task's space ONCE with the real measurer and stores every result in the
database (a rerun continues where it stopped; a per-task time budget cuts the sample short,
and because the sample is measured in random order what was measured is still uniform).
`report` then replays search against that table as an oracle, so both searchers see the same
noise-free costs: random search is a random order of the table, the XGB tuner proposes only
configs of the table (TableSpace), and both run with --seeds seeds. A third searcher,
xgb+transfer, is the XGB tuner given the other tasks' tables as transfer data, as tune_task
gives it the database's records of other tasks. Per task it prints the best GFLOP/s in the
table, and the trials each searcher needs to reach 95%, 99% and 100% of it (median over
seeds), and plots best-so-far GFLOP/s against trials (median line, min-max band). One
thread measures best on a shared machine: a parallel kernel of a millisecond waits for
scheduler ticks whenever a neighbour holds one of the cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

from tensorforge import workloads
from tensorforge.codegen import Target
from tensorforge.tuner import LocalMeasurer, TuningDatabase, XGBTuner
from tensorforge.tuner.database import config_key
from tensorforge.tuner.extract import extract_tasks
from tensorforge.tuner.tune import record_of, transfer_data

CONVS = {"conv3x3 64@56": (64, 56), "conv3x3 128@28": (128, 28), "conv3x3 256@14": (256, 14)}
LEVEL = 0.95                 # the headline level; the report adds stricter ones
LEVELS = (LEVEL, 0.99, 1.0)


def bench_tasks(target: str) -> dict:
    """name -> NodeTask: three ResNet-18 3x3 conv+relu kernels and GEMM 1024."""
    resnet = extract_tasks(workloads.get("resnet18")[0], target)
    tasks = {}
    for name, (c, h) in CONVS.items():
        head = f"Conv|float32[1, {c}, {h}, {h}]->float32[1, {c}, {h}, {h}]|Conv+Relu|"
        tasks[name] = next(t for t in resnet
                           if t.workload.startswith(head) and t.template == "conv2d_nchwc")
    tasks["gemm1024"] = extract_tasks(workloads.get("gemm1024")[0], target)[0]
    return tasks


# ---------------------------------------------------------------- measure


def sample(task, n: int) -> list:
    """The fixed sample of a task's space, in the (random) order it is measured."""
    rng = np.random.default_rng(0)
    size = len(task.space)
    picked = rng.permutation(size) if size <= n else rng.choice(size, n, replace=False)
    return [task.space[int(i)] for i in picked]


def measure(args) -> None:
    tasks = bench_tasks(args.target)
    measurer = LocalMeasurer(timeout=args.timeout, repeat=3, min_repeat_ms=10)
    with TuningDatabase(args.db) as db:
        for name, task in tasks.items():
            done = {r.config_key for r in db.records(task.target, task.workload)}
            todo = [c for c in sample(task, args.sample) if config_key(c) not in done]
            budget = args.gemm_minutes if name.startswith("gemm") else args.conv_minutes
            deadline = time.time() + 60 * budget
            print(f"{name}: space {len(task.space)}, {len(done)} measured, {len(todo)} to go",
                  flush=True)
            for k, config in enumerate(todo):
                if time.time() > deadline:
                    print(f"{name}: time budget spent after {k} configs", flush=True)
                    break
                result = measurer.measure_one(task, config)
                db.add(record_of(task, config, result))


# ---------------------------------------------------------------- replay


class TableSpace:
    """The measured configs of a space as a space of their own (what tuners use of a
    ConfigSpace): a neighbour is a closest table entry by the number of knobs that differ."""

    def __init__(self, space, configs: list):
        self.space, self.configs = space, configs
        self._index = {space.index(c): k for k, c in enumerate(configs)}
        self._digits = np.array([space.digits(space.index(c)) for c in configs])

    def __len__(self) -> int:
        return len(self.configs)

    def __getitem__(self, i: int) -> dict:
        return self.configs[int(i)]

    def index(self, config: dict) -> int:
        return self._index[self.space.index(config)]

    def sample(self, rng, n: int = 1) -> list[int]:
        return [int(i) for i in rng.integers(0, len(self), n)]

    def random_neighbour(self, i: int, rng) -> int:
        dist = (self._digits != self._digits[int(i)]).sum(axis=1).astype(float)
        dist[int(i)] = math.inf
        closest = np.flatnonzero(dist == dist.min())
        return int(closest[rng.integers(len(closest))])


def table_of(db: TuningDatabase, task) -> tuple[list, np.ndarray]:
    """(configs, GFLOP/s; 0 for errors) of a task's records; a config's time is its fastest
    round (on a shared machine the slower rounds measure the neighbours, not the kernel)."""
    latest = {r.config_key: r for r in db.records(task.target, task.workload)}
    configs = [r.config for r in latest.values()]
    gflops = np.array([task.flops / r.cost / 1e9 if math.isfinite(r.cost) else 0.0
                       for r in latest.values()])
    return configs, gflops


def random_curve(gflops: np.ndarray, seed) -> np.ndarray:
    return np.maximum.accumulate(gflops[np.random.default_rng(seed).permutation(len(gflops))])


def xgb_curve(task, configs: list, gflops: np.ndarray, seed: int, trials: int,
              transfer: tuple | None = None) -> np.ndarray:
    """Best-so-far GFLOP/s of the XGB tuner proposing from the table, batches of 8, over
    `trials` trials; the search stops once it has found the table's best (the curve is flat
    from there, and refitting on up to 1000 configs is what a replay spends its time on).
    `transfer`: tune.transfer_data of other tasks, which the tuner trains on besides (from
    the first batch on: tune_task updates the tuner with the task's empty history first)."""
    space = TableSpace(task.space, configs)
    tuner = XGBTuner(space, features=task.features, seed=seed)
    if transfer is not None:
        tuner.set_transfer(*transfer)
    tuner.update([], [])
    seen: list[float] = []
    while tuner.has_next() and len(seen) < trials and max(seen, default=-1.0) < gflops.max():
        batch = tuner.next_batch(8)
        found = [gflops[space.index(c)] for c in batch]
        seen += found
        tuner.update(batch, [task.flops / g / 1e9 if g > 0 else math.inf for g in found])
    curve = np.maximum.accumulate(np.array(seen))
    return np.pad(curve, (0, max(0, trials - len(curve))), mode="edge")[:trials]


def trials_to(curve: np.ndarray, level: float) -> float:
    """Trials until the curve reaches `level` (inf if it never does)."""
    return int(np.argmax(curve >= level)) + 1 if curve[-1] >= level else math.inf


def report(args) -> None:
    tasks = bench_tasks(args.target)
    rows, curves = [], {}
    with TuningDatabase(args.db) as db:
        for k, (name, task) in enumerate(tasks.items()):
            configs, gflops = table_of(db, task)
            if not configs:
                continue
            seeds, trials = range(args.seeds), args.trials or len(configs)
            others = transfer_data(db, [t for t in tasks.values() if t is not task])
            runs = {"random": [random_curve(gflops, (k, s))[:trials] for s in seeds],
                    "xgb": [xgb_curve(task, configs, gflops, s, trials) for s in seeds],
                    "xgb+transfer": [xgb_curve(task, configs, gflops, s, trials, others)
                                     for s in seeds]}
            curves[name] = runs
            row = {"task": name, "space": len(task.space), "measured": len(configs),
                   "errors": int((gflops == 0).sum()), "best_gflops": float(gflops.max()),
                   "within_95": float(np.mean(gflops >= LEVEL * gflops.max()))}
            for level in LEVELS:
                for kind, cs in runs.items():
                    trials = [trials_to(c, level * gflops.max()) for c in cs]
                    row[f"{kind}_{level:g}"] = {"trials": trials, "median": np.median(trials)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": Target.parse(args.target).cpu, "load": os.getloadavg()[0],
                       "threads": os.environ.get("TENSORFORGE_NUM_THREADS"), "rows": rows},
                      f, indent=2)
    if args.plot:
        plot(curves, rows, args.plot)


def plot(curves: dict, rows: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for ax, (name, runs), row in zip(axes[0], curves.items(), rows):
        for kind, color in (("random", "tab:gray"), ("xgb", "tab:blue"),
                            ("xgb+transfer", "tab:orange")):
            stack = np.stack(runs[kind])
            x = np.arange(1, stack.shape[1] + 1)
            ax.plot(x, np.median(stack, axis=0), color=color, label=kind)
            ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=color, alpha=0.2)
        ax.axhline(LEVEL * row["best_gflops"], color="k", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_title(f"{name} ({row['measured']} configs)")
        ax.set_xlabel("trials")
        ax.set_ylabel("best GFLOP/s so far")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phase", choices=["measure", "report"])
    p.add_argument("--db", default="bench/tuning_curves.db")
    p.add_argument("--target", default="llvm")
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--gemm-minutes", type=float, default=15.0)
    p.add_argument("--conv-minutes", type=float, default=3.0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--trials", type=int,
                   help="Search trials replayed at most (default: the whole table).")
    p.add_argument("--json")
    p.add_argument("--plot")
    args = p.parse_args()
    {"measure": measure, "report": report}[args.phase](args)


if __name__ == "__main__":
    main()
