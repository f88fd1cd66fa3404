"""Measure candidates in worker processes, so a crashing or hanging kernel is a record.

    measure = LocalMeasurer(timeout=10, repeat=3, min_repeat_ms=50, threads=1)
    for config, result in zip(configs, measure(task, configs)):   # results arrive one by one
        ...   # result.costs (seconds per run of each round) or result.error; result.threads

Each candidate runs in a fresh process forked from a fork server that has TensorForge already
imported (cheap to start, and no inherited threads, unlike a plain fork of the tuner). The
worker loads the artifact, runs it once and compares the outputs with the reference computed
once per task (a wrong kernel is an error, not a fast record; atol is relative to the
reference's largest magnitude, as a reduction's rounding error is: an indexing bug is off by
the scale itself, while a reordered sum, or Winograd's transforms, is off by ~1e-6 of it),
then times `repeat` rounds of
`number` runs, raising `number` until a round lasts `min_repeat_ms` (AutoTVM's semantics).
A worker past `timeout` is killed; one that dies (segfault, abort) reports its signal.
Kernels run with `threads` threads (default: TENSORFORGE_NUM_THREADS, else the cores this
process may use), set in each worker, and every result says so.
As with any multiprocessing fork server, a script that tunes needs the
`if __name__ == "__main__":` guard, and tasks must pickle (module-level classes/functions).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import numpy as np

from ..codegen import num_threads
from .space import Config
from .task import Task

PRELOAD = ["tensorforge.tuner.measure", "tensorforge.codegen"]


@dataclass(frozen=True)
class MeasureResult:
    """Seconds per run of each round, or the reason there are none; `threads` the kernel
    ran with (None: the measurer does not say)."""

    costs: tuple = ()
    error: str | None = None
    threads: int | None = None

    @property
    def cost(self) -> float:
        """The fastest round (how results are ranked, see tuner/database.py); inf on error."""
        return min(self.costs) if self.costs and not self.error else math.inf


@dataclass(frozen=True)
class _Settings:
    repeat: int
    number: int
    min_repeat_ms: float
    rtol: float
    atol: float


def _scale(a: np.ndarray) -> float:
    """The largest finite magnitude in `a` (1 when it is smaller or there is none)."""
    finite = np.abs(a[np.isfinite(a)]) if a.dtype.kind == "f" else np.abs(a)
    return max(1.0, float(finite.max())) if finite.size else 1.0


def _check(outputs, expected, s: _Settings) -> str | None:
    for k, (got, want) in enumerate(zip(outputs, expected)):
        if got.shape != want.shape or not np.allclose(got, want, rtol=s.rtol,
                                                      atol=s.atol * _scale(want),
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


def _worker(conn, task: Task, artifact, args, expected, settings: _Settings,
            threads: int) -> None:
    """Runs in the child: send ("ok", costs) or ("error", message)."""
    os.environ["TENSORFORGE_NUM_THREADS"] = str(threads)
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

    worker = staticmethod(_worker)  # what runs in the child (the CUDA measurer's differs)

    def __init__(self, timeout: float = 10.0, repeat: int = 3, number: int = 1,
                 min_repeat_ms: float = 0.0, rtol: float = 1e-4, atol: float = 1e-4,
                 context: str = "forkserver", threads: int | None = None):
        self.timeout = timeout
        self.threads = threads or num_threads()
        self.settings = _Settings(repeat, number, min_repeat_ms, rtol, atol)
        self.ctx = multiprocessing.get_context(context)
        if context == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)
        self._references: dict = {}

    def _reference(self, task: Task) -> tuple[list, list]:
        """(arguments, expected outputs), once per workload and target: the tasks of one
        workload (an alternative template's too) share them."""
        key = (task.workload, task.target)
        if key not in self._references:
            args = task.arguments()
            self._references[key] = (args, self._expected(task, args))
        return self._references[key]

    def _expected(self, task: Task, args) -> list:
        return [np.asarray(r) for r in task.reference(args)]

    def __call__(self, task: Task, configs: Sequence[Config]) -> Iterator[MeasureResult]:
        for config in configs:
            yield self.measure_one(task, config)

    def measure_one(self, task: Task, config: Config) -> MeasureResult:
        return replace(self._measure(task, config), threads=self.threads)

    def _measure(self, task: Task, config: Config) -> MeasureResult:
        try:
            artifact = task.build(config)
        except Exception as e:
            return MeasureResult(error=f"build failed: {type(e).__name__}: {e}")
        args, expected = self._reference(task)
        parent, child = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=self.worker, daemon=True,
                                args=(child, task, artifact, args, expected, self.settings,
                                      self.threads))
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


def measurer_for(target, **options):
    """The measurer whose records belong to `target`: CudaMeasurer (CUDA events on this
    machine's GPU; its `target` names the device's sm_XX) for "cuda", else LocalMeasurer."""
    from ..codegen import Target
    if (target if isinstance(target, Target) else Target.parse(target)).is_gpu:
        from .cuda_measure import CudaMeasurer
        return CudaMeasurer(target=target, **options)
    return LocalMeasurer(**options)
