"""Side-by-side latency measurement: a TensorForge module and its peers (ONNX Runtime) on the
same inputs, the same thread count, in the same process run. Each contender is timed in its
own block (never interleaved call by call: idle worker threads of one pool spinning would
steal cores from the other)."""

from __future__ import annotations

import datetime
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

import numpy as np

PEERS = ("onnxruntime", "untuned")  # untuned: the same model compiled without the tuning db


@dataclass(frozen=True)
class Latency:
    """Wall-clock samples of one contender, in seconds."""

    samples: tuple[float, ...]
    batch: int = 1

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples, q))

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def throughput(self) -> float:
        """Inferences (batch items) per second at the median latency."""
        return self.batch / self.p50

    def summary(self) -> dict:
        return {"p50_ms": self.p50 * 1e3, "p90_ms": self.percentile(90) * 1e3,
                "p99_ms": self.percentile(99) * 1e3, "min_ms": min(self.samples) * 1e3,
                "throughput_per_s": self.throughput, "runs": len(self.samples)}


def time_calls(fn: Callable[[], object], warmup: int = 3, repeat: int = 50,
               min_seconds: float = 0.5, batch: int = 1) -> Latency:
    """Call `fn` `warmup` times, then at least `repeat` times and for at least `min_seconds`."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + min_seconds
    while len(samples) < repeat or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
        if len(samples) >= 100 * repeat:
            break
    return Latency(tuple(samples), batch)


def best_seconds(fn: Callable[[], object], repeat: int = 15) -> float:
    """The fastest of `repeat` calls after one warm-up call (kernel micro-benchmarks)."""
    return time_calls(fn, warmup=1, repeat=repeat, min_seconds=0.0).best


def onnxruntime_runner(model_bytes: bytes, feeds: Mapping[str, np.ndarray],
                       threads: int) -> Callable[[], object]:
    """ONNX Runtime at its best on CPU: all graph optimizations, `threads` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    feeds = dict(feeds)
    return lambda: sess.run(None, feeds)


def untuned_runner(model_bytes: bytes, feeds: Mapping[str, np.ndarray], target: str):
    """The model compiled with default schedules (no tuning database): what tuning gained."""
    from .api import compile as tf_compile
    module = tf_compile(model_bytes, target=target)
    return lambda: module.run(**feeds)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class BenchResult:
    """Everything `tensorforge bench` reports, JSON-ready via `as_dict()`."""

    model: str
    target: str
    threads: int
    compile_seconds: float
    arena_bytes: int
    naive_bytes: int
    lower_bound_bytes: int
    latency: dict[str, Latency] = field(default_factory=dict)
    max_abs_error: dict[str, float] = field(default_factory=dict)
    cpu: str = field(default_factory=cpu_name)
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())

    def speedup(self, peer: str) -> float:
        """How many times faster TensorForge's median is than the peer's."""
        return self.latency[peer].p50 / self.latency["tensorforge"].p50

    def as_dict(self) -> dict:
        out = asdict(self)
        out["latency"] = {k: v.summary() for k, v in self.latency.items()}
        out["speedup"] = {p: self.speedup(p) for p in self.latency if p != "tensorforge"}
        return out


def with_threads(threads: int):
    """Set TensorForge's thread count for the calls that follow (read at each kernel call)."""
    os.environ["TENSORFORGE_NUM_THREADS"] = str(threads)


def bench_model(name: str, model_bytes: bytes, feeds: Mapping[str, np.ndarray], target: str,
                threads: int, peers: tuple[str, ...] = PEERS, tuning_db=None,
                warmup: int = 3, repeat: int = 50, min_seconds: float = 0.5,
                module=None) -> tuple[BenchResult, object]:
    """Compile (unless `module` is given), check outputs against the first peer, and time
    TensorForge and each peer. Returns the result and the module (for profiling)."""
    from .api import compile as tf_compile

    unknown = set(peers) - set(PEERS)
    if unknown:
        raise ValueError(f"unknown peer(s) {sorted(unknown)}; known: {', '.join(PEERS)}")
    if "untuned" in peers and tuning_db is None:
        raise ValueError("peer 'untuned' compares a tuned build with the default schedules: "
                         "give a tuning database (--db)")
    start = time.perf_counter()
    module = module or tf_compile(model_bytes, target=target, tuning_db=tuning_db)
    compile_seconds = time.perf_counter() - start
    batch = max((a.shape[0] for a in feeds.values() if a.ndim), default=1)
    plan = module.memory_plan
    result = BenchResult(name, target, threads, compile_seconds, plan.arena_bytes,
                         plan.naive_bytes, plan.lower_bound_bytes)
    with_threads(threads)
    ours = module.run(**feeds)
    result.latency["tensorforge"] = time_calls(lambda: module.run(**feeds), warmup, repeat,
                                               min_seconds, batch)
    for peer in peers:
        run = (untuned_runner(model_bytes, feeds, target) if peer == "untuned"
               else onnxruntime_runner(model_bytes, feeds, threads))
        theirs = run()
        result.max_abs_error[peer] = max(
            float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))
            for a, b in zip(ours, theirs))
        result.latency[peer] = time_calls(run, warmup, repeat, min_seconds, batch)
    return result, module
