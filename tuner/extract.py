"""Task extraction: the distinct kernels of a model worth tuning, most important first.

    tasks = extract_tasks("resnet18.onnx", "llvm")
    for t in tasks: print(t.weight, t.template, len(t.space), t.workload)

The graph goes through the same frontend and passes as `tensorforge.compile`, so the tasks'
workload keys (structural, target included) are the ones `compile` looks up in the tuning
database. Kernels sharing a key are one task, weighted by how many there are; a task whose
template offers fewer than `min_space` configs (the generic templates' on/off switches) is
not worth measuring and is left out. Order: weight x FLOPs, largest first (AutoTVM tunes
every task; a budget cut short should have spent itself on the kernels that matter).
"""

from __future__ import annotations

from typing import Mapping

from ..codegen import Target
from ..compiler import Graph, from_onnx, optimize
from ..compiler.lower import workload, writes_nothing
from .node_task import NodeTask

MIN_SPACE = 8


def model_graph(model, inputs: Mapping | None = None) -> Graph:
    """The optimized graph `compile` lowers: `model` is a path, bytes, ModelProto or Graph."""
    graph = model if isinstance(model, Graph) else from_onnx(model, inputs=inputs)
    return optimize(graph)


def extract_tasks(model, target="llvm", inputs: Mapping | None = None,
                  min_space: int = MIN_SPACE) -> list[NodeTask]:
    """One NodeTask per distinct workload of `model` with a space of >= `min_space` configs,
    in decreasing order of weight x FLOPs."""
    target = target if isinstance(target, Target) else Target.parse(target)
    tasks: dict[str, NodeTask] = {}
    for node in model_graph(model, inputs).nodes:
        if writes_nothing(node):  # no kernel: nothing to tune
            continue
        key = workload(node, target)
        if key in tasks:
            tasks[key].weight += 1
        else:
            tasks[key] = NodeTask(node, str(target))
    kept = [t for t in tasks.values() if len(t.space) >= min_space]
    return sorted(kept, key=lambda t: -t.weight * t.flops)
