"""Measure candidates in worker processes, so a crashing or hanging kernel is a record.

    measure = LocalMeasurer(timeout=10, repeat=3, min_repeat_ms=50)
    for config, result in zip(configs, measure(task, configs)):   # results arrive one by one
        ...   # result.costs (seconds per run) or result.error

Each candidate runs in a fresh process forked from a fork server that has TensorForge already
imported (cheap to start, and no inherited threads, unlike a plain fork of the tuner). The
worker loads the artifact, runs it once and compares the outputs with the reference computed
once per task (a wrong kernel is an error, not a fast record), then times `repeat` rounds of
`number` runs, raising `number` until a round lasts `min_repeat_ms` (AutoTVM's semantics).
A worker past `timeout` is killed; one that dies (segfault, abort) reports its signal.
As with any multiprocessing fork server, a script that tunes needs the
`if __name__ == "__main__":` guard, and tasks must pickle (module-level classes/functions).
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .space import Config
from .task import Task

PRELOAD = ["tensorforge.tuner.measure", "tensorforge.codegen"]


@dataclass(frozen=True)
class MeasureResult:
    """Seconds per run of each round, or the reason there are none."""

    costs: tuple = ()
    error: str | None = None

    @property
    def mean_cost(self) -> float:
        return sum(self.costs) / len(self.costs) if self.costs and not self.error else math.inf


@dataclass(frozen=True)
class _Settings:
    repeat: int
    number: int
    min_repeat_ms: float
    rtol: float
    atol: float


def _check(outputs, expected, s: _Settings) -> str | None:
    for k, (got, want) in enumerate(zip(outputs, expected)):
        if got.shape != want.shape or not np.allclose(got, want, rtol=s.rtol, atol=s.atol,
                                                      equal_nan=True):
            err = np.max(np.abs(got.astype(np.float64) - want)) if got.shape == want.shape \
                else f"shape {got.shape} != {want.shape}"
            return f"wrong result: output {k} differs from the reference (max abs error {err})"
    return None


def _time(fn, args, s: _Settings) -> list[float]:
    number = s.number
    if s.min_repeat_ms > 0:
        start = time.perf_counter()
        fn(*args)
        once = max(time.perf_counter() - start, 1e-9)
        number = max(number, math.ceil(s.min_repeat_ms / 1000 / once))
    costs = []
    for _ in range(s.repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        costs.append((time.perf_counter() - start) / number)
    return costs


def _worker(conn, task: Task, artifact, args, expected, settings: _Settings) -> None:
    """Runs in the child: send ("ok", costs) or ("error", message)."""
    try:
        fn = task.load(artifact)
        fn(*args)
        error = _check([args[k] for k in task.outputs], expected, settings)
        conn.send(("error", error) if error else ("ok", _time(fn, args, settings)))
    except Exception as e:  # any failure of the candidate is its record, not the tuner's
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker crashed (signal {signal.Signals(-exitcode).name})"
        except ValueError:
            pass
    return f"worker died (exit code {exitcode})"


class LocalMeasurer:
    """Measure one config at a time (concurrent timing on a shared CPU would be noise)."""

    def __init__(self, timeout: float = 10.0, repeat: int = 3, number: int = 1,
                 min_repeat_ms: float = 0.0, rtol: float = 1e-4, atol: float = 1e-5,
                 context: str = "forkserver"):
        self.timeout = timeout
        self.settings = _Settings(repeat, number, min_repeat_ms, rtol, atol)
        self.ctx = multiprocessing.get_context(context)
        if context == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)
        self._references: dict = {}

    def _reference(self, task: Task) -> tuple[list, list]:
        key = (task.workload, task.target)
        if key not in self._references:
            args = task.arguments()
            self._references[key] = (args, [np.asarray(r) for r in task.reference(args)])
        return self._references[key]

    def __call__(self, task: Task, configs: Sequence[Config]) -> Iterator[MeasureResult]:
        for config in configs:
            yield self.measure_one(task, config)

    def measure_one(self, task: Task, config: Config) -> MeasureResult:
        try:
            artifact = task.build(config)
        except Exception as e:
            return MeasureResult(error=f"build failed: {type(e).__name__}: {e}")
        args, expected = self._reference(task)
        parent, child = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_worker, daemon=True,
                                args=(child, task, artifact, args, expected, self.settings))
        try:
            proc.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        try:
            if not parent.poll(self.timeout):
                return MeasureResult(error=f"timeout: no result within {self.timeout:g} s")
            try:
                status, payload = parent.recv()
            except EOFError:
                proc.join(1.0)
                return MeasureResult(error=_death(proc.exitcode))
            if status == "ok":
                return MeasureResult(costs=tuple(payload))
            return MeasureResult(error=payload)
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(1.0)
            parent.close()
