"""Tasks and helpers the tuner tests send into worker processes (so: importable by name)."""

from __future__ import annotations

import ctypes
import functools
import time
from dataclasses import dataclass

import numpy as np

from tensorforge.tuner import ConfigSpace, Record, TirTask, TuningDatabase

import tir_kernels

FAULTS = {
    "none": lambda x, y: np.multiply(x, 2, out=y),
    "wrong": lambda x, y: np.multiply(x, 3, out=y),
    "raise": lambda x, y: (_ for _ in ()).throw(RuntimeError("kernel refused")),
    "segfault": lambda x, y: ctypes.string_at(0),
    "hang": lambda x, y: time.sleep(3600),
}


def _sleepy(delay_ms: float, fault: str, x, y):
    FAULTS[fault](x, y)
    time.sleep(delay_ms / 1000)


@dataclass(eq=False)
class SleepTask:
    """y = 2 * x, taking `delay` milliseconds; `fault` knobs make it crash, hang or lie."""

    delays: tuple = (1, 2, 4)
    faults: tuple = ("none",)
    workload: str = "sleep"
    target: str = "host"
    template: str = "sleepy"
    flops: float = 1e6
    outputs: tuple = (1,)

    @property
    def space(self) -> ConfigSpace:
        return ConfigSpace({"delay": list(self.delays), "fault": list(self.faults)})

    def build(self, config):
        if config["fault"] == "build":
            raise ValueError("no such kernel")
        return (config["delay"], config["fault"])

    def load(self, artifact):
        return functools.partial(_sleepy, *artifact)

    def arguments(self):
        return [np.arange(8, dtype=np.float32), np.zeros(8, np.float32)]

    def reference(self, args):
        return [args[0] * 2]


def gemm_func(M: int, N: int, K: int, config) -> "tir_kernels.tir.PrimFunc":
    return tir_kernels.gemm(M, N, K, config["mr"], config["nr"])


def gemm_task(M: int, N: int, K: int, mr=(2, 4, 6), nr=(8, 16, 32)) -> TirTask:
    return TirTask(f"gemm_{M}x{N}x{K}", "llvm", "tir_gemm",
                   ConfigSpace({"mr": list(mr), "nr": list(nr)}),
                   functools.partial(gemm_func, M, N, K), np.matmul, 2.0 * M * N * K)


def insert_many(path: str, n: int, tag: str) -> None:
    """One tuner's worth of writes: n records, each its own transaction."""
    db = TuningDatabase(path)
    for k in range(n):
        db.add(Record("llvm", f"w{k % 3}", "t", {"k": k, "tag": tag}, [1e-3 * (k + 1)]))
    db.close()


TARGET = {"a": 7, "b": 2, "c": 5, "d": 0}
WEIGHTS = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 0.5}


def bowl_space(values=10):
    return ConfigSpace({k: list(range(values)) for k in TARGET})


def bowl(config) -> float:
    """A smooth bowl with its minimum (1 ms) at TARGET: a structure a model can learn."""
    return 1e-3 * (1 + sum(w * (config[k] - TARGET[k]) ** 2 for k, w in WEIGHTS.items()))


def _fill_thread_count(x, y):
    from tensorforge.codegen import num_threads
    y[:] = num_threads()


@dataclass(eq=False)
class ThreadCountTask(SleepTask):
    """y = the thread count kernels run with in the worker; the reference says `threads`."""

    threads: int = 1

    def load(self, artifact):
        return _fill_thread_count

    def reference(self, args):
        return [np.full(8, self.threads, np.float32)]
