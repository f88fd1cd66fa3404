"""Does any point of a conv task's space beat its default config? Interleaved in-process timing.

    TENSORFORGE_NUM_THREADS=1 python bench/conv_knobs.py search "conv3x3 64@56"
    TENSORFORGE_NUM_THREADS=1 python bench/conv_knobs.py pair "Conv|float32[1, 512, 7, 7]->" \
        '{"ow_bn": 8}' --repeats 3

A task is one of bench/tuning_curves.py's names or the head of a ResNet-18 workload key.
Every config's kernel is built in this process, then all are called in turn for many rounds;
a config's time is its fastest call. On a shared machine that compares configs under the same
neighbours, which separate worker processes (LocalMeasurer) measured minutes apart do not.
`search`: stage 1 times the default, its one-knob neighbours and the oc_bn x ow_bn x oh_bn
grid; stage 2 the five fastest and their ic_bn / outer / unroll_kw neighbours; the final
round-robin the default and the stage-2 top five. `pair`: the default against the default
with some knobs changed, `--repeats` independent round-robins (does a win repeat?).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from tensorforge import workloads
from tensorforge.tuner.database import config_key
from tensorforge.tuner.extract import extract_tasks
from tuning_curves import bench_tasks

GRID = ("oc_bn", "ow_bn", "oh_bn")
REORDER = {"ic_bn", "outer", "unroll_kw"}


def find_task(name: str):
    named = bench_tasks("llvm")
    if name in named:
        return named[name]
    return next(t for t in extract_tasks(workloads.get("resnet18")[0], "llvm")
                if t.workload.startswith(name))


def fastest_calls(task, configs: list, rounds: int, args) -> np.ndarray:
    """Seconds of each config's fastest call over `rounds` round-robins."""
    fns = [task.load(task.build(c)) for c in configs]
    for fn in fns:
        fn(*args)
    best = np.full(len(fns), np.inf)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn(*args)
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def unique(configs: list) -> list:
    return list({config_key(c): c for c in configs}.values())


def search(task, rounds: int) -> None:
    space, default, args = task.space, task.default, task.arguments()
    stage1 = unique([default] + [space[i] for i in space.neighbours(space.index(default))]
                    + [{**default, **dict(zip(GRID, v))}
                       for v in itertools.product(*(space.knobs[k] for k in GRID))])
    top = [stage1[k] for k in np.argsort(fastest_calls(task, stage1, 30, args))[:5]]
    stage2 = unique(top + [n for c in top for n in map(space.__getitem__,
                                                       space.neighbours(space.index(c)))
                           if {k for k in c if c[k] != n[k]} <= REORDER])
    times2 = fastest_calls(task, stage2, 30, args)
    final = unique([default] + [stage2[k] for k in np.argsort(times2)[:5]])
    times = fastest_calls(task, final, rounds, args)
    print(f"{len(stage1)} + {len(stage2)} configs screened; GFLOP/s of the fastest call "
          f"over {rounds} rounds:")
    for k in np.argsort(times):
        print(f"  {task.flops / times[k] / 1e9:6.1f}  {times[0] / times[k]:.3f}x default  "
              f"{config_key(final[k])}{'  [default]' if k == 0 else ''}")


def pair(task, change: dict, rounds: int, repeats: int) -> None:
    configs, args = [task.default, {**task.default, **change}], task.arguments()
    ratios = []
    for _ in range(repeats):
        times = fastest_calls(task, configs, rounds, args)
        ratios.append(times[0] / times[1])
    print(f"default {config_key(task.default)} ({task.flops / times[0] / 1e9:.0f} GFLOP/s) -> "
          f"{config_key(change)}: speedup per repeat {' '.join(f'{r:.3f}' for r in ratios)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["search", "pair"])
    p.add_argument("task")
    p.add_argument("change", nargs="?", default="{}", help="pair: knobs to change (JSON)")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    task = find_task(a.task)
    print(f"{a.task}: space {len(task.space)}, default {config_key(task.default)}")
    if a.mode == "search":
        search(task, a.rounds)
    else:
        pair(task, json.loads(a.change), a.rounds, a.repeats)


if __name__ == "__main__":
    main()
