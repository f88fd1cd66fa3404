"""`compile` and `load`: an ONNX model in, a runnable Module out.

    mod = tensorforge.compile("resnet18.onnx", target="llvm -mcpu=avx512", tuning_db="t.db")
    mod = tensorforge.load("resnet18.tfm")

The pipeline is a flat list of stages, each logged (logger "tensorforge") with its time:
from_onnx -> optimize -> lower_graph (configs from the tuning database) -> link (slots and
memory plan) -> build_library (all kernels and the runner in one LLVM module) -> Module.
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
from .compiler import Graph, from_onnx, optimize
from .runtime.module import Module
from .runtime.serialize import load

log = logging.getLogger("tensorforge")


@contextmanager
def _stage(name: str):
    start = time.perf_counter()
    yield
    log.info("%s: %.3f s", name, time.perf_counter() - start)


def load_best_configs(tuning_db, target: Target) -> dict[str, dict]:
    """workload -> best measured config for `target`. No database, or a missing file, gives
    {} (default configs); an unreadable one gives {} with a warning."""
    if tuning_db is None or not Path(tuning_db).exists():
        if tuning_db is not None:
            log.info("tuning database %s does not exist: default configs", tuning_db)
        return {}
    from .tuner.database import DatabaseError, TuningDatabase
    try:
        with TuningDatabase(tuning_db) as db:
            best = (db.best(str(target), s.workload) for s in db.stats(str(target)))
            return {r.workload: r.config for r in best if r is not None}
    except DatabaseError as e:
        warnings.warn(f"{e}; compiling with default configs", stacklevel=3)
        return {}


def compile(model, target="llvm", inputs: Mapping | None = None, tuning_db=None,
            opt_level: int = 3) -> Module:
    """Compile an ONNX model (path, bytes, ModelProto, or a TensorForge Graph) for `target`.
    `inputs` fixes dynamic dimensions ({name: shape}); opt_level 0 skips the graph passes
    (every op its own kernel)."""
    from .compiler.lower import lower_graph
    target = target if isinstance(target, Target) else Target.parse(target)
    with _stage("frontend"):
        graph = model if isinstance(model, Graph) else from_onnx(model, inputs=inputs)
    if opt_level > 0:
        with _stage("optimize"):
            graph = optimize(graph)
    configs = load_best_configs(tuning_db, target)
    with _stage(f"lower ({len(configs)} tuned configs)"):
        kernels = lower_graph(graph, target, configs)
    with _stage(f"link and codegen ({len(kernels)} kernels, {target.cpu}, "
                f"{target.vector_bits}-bit SIMD)"):
        module = Module.link(graph.inputs, graph.outputs, kernels, target)
    log.info("%s", module.memory_plan.summary())
    return module


__all__ = ["compile", "load", "load_best_configs"]
