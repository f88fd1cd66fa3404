"""`compile` and `load`: an ONNX model in, a runnable Module out.

    mod = tensorforge.compile("resnet18.onnx", target="llvm -mcpu=avx512", tuning_db="t.db")
    mod = tensorforge.load("resnet18.tfm")

The pipeline is a flat list of stages, each logged (logger "tensorforge") with its time:
model_graph (from_onnx, then optimize at opt_level) -> lower_graph (configs from the tuning
database) -> link (slots and memory plan) -> build_library (all kernels and the runner in
one LLVM module) -> Module.
Compiling works for any target; running checks the host can execute it.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Mapping

from .codegen import Target
from .compiler import model_graph
from .runtime.module import Module
from .runtime.serialize import load

log = logging.getLogger("tensorforge")


@contextmanager
def _stage(name: str):
    start = time.perf_counter()
    yield
    log.info("%s: %.3f s", name, time.perf_counter() - start)


def load_best_configs(tuning_db, target: Target, threads: int | None = None) -> dict[str, dict]:
    """workload -> best measured config for `target` among records measured with `threads`
    threads (default: the count kernels will run with, codegen.num_threads(); any for a GPU
    target, whose records carry none); a workload
    without such records takes its best of any thread count. No database, or a missing
    file, gives {} (default configs); an unreadable one gives {} with a warning."""
    if tuning_db is None or not Path(tuning_db).exists():
        if tuning_db is not None:
            log.info("tuning database %s does not exist: default configs", tuning_db)
        return {}
    from .codegen import num_threads
    from .tuner.database import DatabaseError, TuningDatabase
    threads = None if target.is_gpu else threads or num_threads()  # GPU records: no count
    try:
        with TuningDatabase(tuning_db) as db:
            best = (_best_record(db, str(target), s.workload, threads)
                    for s in db.stats(str(target)))
            return {r.workload: r.config for r in best if r is not None}
    except DatabaseError as e:
        warnings.warn(f"{e}; compiling with default configs", stacklevel=3)
        return {}


def _best_record(db, target: str, workload: str, threads: int | None):
    """The best record measured with `threads` threads, else the best of any thread count
    (None: any, a GPU target's records)."""
    found = db.best(target, workload, threads)
    if found is None and threads is not None:
        found = db.best(target, workload)
        if found is not None:
            log.debug("%s: no record measured with %d threads; using one measured with %s",
                      workload, threads, found.threads or "an unknown number of")
    return found


def compile(model, target="llvm", inputs: Mapping | None = None, tuning_db=None,
            opt_level: int = 3, device=None) -> Module:
    """Compile an ONNX model (path, bytes, ModelProto, or a TensorForge Graph) for `target`.
    `inputs` fixes dynamic dimensions ({name: shape}); opt_level 0 skips the graph passes
    but shape folding (every op its own kernel; compiler.pipeline.model_graph). A "cuda"
    target gives a runtime.cuda_module.CudaModule on `device` (default: the first GPU
    through CuPy; see runtime.cuda_device.Device)."""
    from .compiler.lower import lower_graph
    target = target if isinstance(target, Target) else Target.parse(target)
    if target.is_gpu:
        device, target = _cuda_device(target, device)  # before any work: fails fast
    with _stage("frontend and optimize"):
        graph = model_graph(model, inputs, opt_level)
    configs = load_best_configs(tuning_db, target)
    inputs, outputs, nodes = graph.inputs, graph.outputs, list(graph.nodes)
    del graph  # `nodes` alone holds the weights (but a Graph the caller passed): lower_graph
    # releases each original once its kernel holds the packed form
    with _stage(f"lower ({len(configs)} tuned configs)"):
        kernels = lower_graph(nodes, target, configs)
    with _stage(f"link and codegen ({len(kernels)} kernels, {target.cpu}, "
                f"{target.vector_bits}-bit SIMD)"):
        module = _link_cuda(inputs, outputs, kernels, target, device) if target.is_gpu \
            else Module.link(inputs, outputs, kernels, target)
    log.info("%s", module.memory_plan.summary())
    return module


def _cuda_device(target: Target, device):
    """The device to run on (CuPy's first GPU unless given) and `target` with its sm_XX.
    CuPy is imported here only, so CPU work never needs it."""
    from .runtime.cuda_module import device_target
    if device is None:
        from .runtime.cuda_device import CupyDevice
        device = CupyDevice()
    return device, device_target(target, device)


def _link_cuda(inputs, outputs, kernels, target: Target, device):
    from .runtime.cuda_module import CudaModule
    return CudaModule.link(inputs, outputs, kernels, target, device)


__all__ = ["compile", "load", "load_best_configs"]
