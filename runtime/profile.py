"""Per-kernel timing: where a model's time goes.

    print(module.profile(x))      # or rich.print(...): kernels slowest first, % of total

Each kernel is called alone (through ctypes, with the pointers the runner would pass) `repeat`
times after one warm-up run; a row's time is its median. The kernels run in model order, so
each sees the caches a real run leaves it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..codegen import num_threads
from .executor import Executor


@dataclass(frozen=True)
class KernelTime:
    name: str
    template: str
    seconds: float


@dataclass(frozen=True)
class Profile:
    """Kernel times, slowest first; `total` is their sum, `run` a whole run's median."""

    rows: tuple[KernelTime, ...]
    total: float
    run: float
    threads: int

    def table(self) -> list[tuple[str, str, str, str]]:
        out = [(r.name, r.template or "-", f"{r.seconds * 1e3:.3f}",
                f"{100 * r.seconds / self.total:.1f}" if self.total else "-") for r in self.rows]
        return out + [("total (kernels)", "", f"{self.total * 1e3:.3f}", "100.0"),
                      ("one run", "", f"{self.run * 1e3:.3f}", "")]

    def __str__(self) -> str:
        head = ("kernel", "template", "ms", "%")
        rows = [head, *self.table()]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(r, widths)))
        return "\n".join([f"profile ({self.threads} threads)", fmt(head),
                          *(fmt(r) for r in rows[1:])])

    def __rich__(self):
        from rich.table import Table
        table = Table(title=f"profile ({self.threads} threads)")
        for col, just in (("kernel", "left"), ("template", "left"), ("ms", "right"),
                          ("%", "right")):
            table.add_column(col, justify=just)
        for r in self.table():
            table.add_row(*r)
        return table


def profile(executor: Executor, inputs: Sequence[np.ndarray], repeat: int = 10) -> Profile:
    funcs = executor.kernel_functions()
    slots, _buffers = executor.prepare(inputs)  # _buffers keeps the outputs alive
    args = executor.call_args(slots)
    runs, times = [], [[] for _ in funcs]
    for _ in range(repeat + 1):      # whole runs and kernels interleaved: noise hits both
        start = time.perf_counter()
        executor.run(inputs)
        runs.append(time.perf_counter() - start)
        for t, f, a in zip(times, funcs, args):
            start = time.perf_counter()
            f(*a)
            t.append(time.perf_counter() - start)
    calls = executor.program.calls
    rows = sorted((KernelTime(c.name, c.template, statistics.median(t[1:]))
                   for c, t in zip(calls, times)), key=lambda r: -r.seconds)
    return Profile(tuple(rows), sum(r.seconds for r in rows), statistics.median(runs[1:]),
                   num_threads())
