"""Task extraction: the distinct kernels of a model worth tuning, most important first.

    tasks = extract_tasks("resnet18.onnx", "llvm")
    for t in tasks: print(t.weight, t.template, len(t.space), t.workload)

The graph is the one `tensorforge.compile` lowers at the same opt_level (one function,
compiler.pipeline.model_graph), so the tasks' workload keys (structural, target included)
are the ones `compile` looks up in the tuning database. Kernels sharing a key are one task,
weighted by how many there are; a task whose template offers fewer than `min_space` configs
(the generic templates' on/off switches) is not worth measuring and is left out. Order:
weight x FLOPs, largest first (AutoTVM tunes every task; a budget cut short should have
spent itself on the kernels that matter).
"""

from __future__ import annotations

from typing import Mapping

from ..codegen import Target
from ..compiler import model_graph
from ..compiler.lower import alternatives, workload, writes_nothing
from .node_task import NodeTask

MIN_SPACE = 8


def extract_tasks(model, target="llvm", inputs: Mapping | None = None,
                  min_space: int = MIN_SPACE, opt_level: int = 3) -> list[NodeTask]:
    """One NodeTask per distinct workload of `model` with a space of >= `min_space` configs,
    and one more per alternative template that fits it (Winograd beside the direct conv),
    in decreasing order of weight x FLOPs; `opt_level` as compile's."""
    target = target if isinstance(target, Target) else Target.parse(target)
    tasks: dict[tuple, NodeTask] = {}
    for node in model_graph(model, inputs, opt_level).nodes:
        if writes_nothing(node):  # no kernel: nothing to tune
            continue
        key = workload(node, target)
        for template in (None, *alternatives(node, target)):
            if (key, template) in tasks:
                tasks[key, template].weight += 1
            else:
                tasks[key, template] = NodeTask(node, str(target), template=template)
    kept = [t for t in tasks.values() if len(t.space) >= min_space]
    return sorted(kept, key=lambda t: -t.weight * t.flops)
