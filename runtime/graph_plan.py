"""`plan_graph`: the memory plan of an optimized graph, one step per top-level node.

Each top-level node of `compiler.optimize(graph)` (a `Fused` kernel group or a single op) is
one kernel call. Graph inputs, graph outputs and constants live outside the arena. A node may
write its output in place over an input when the kernel is a plain elementwise loop:

    - its pattern is ELEMWISE or BROADCAST (`attrs["pattern"]` of a Fused node, whose body
      must hold only ELEMWISE/BROADCAST nodes too, else `OPS[op].pattern`),
    - it has one output (a multi-output kernel could overwrite an input another output
      still reads), and
    - the input has the output's shape and dtype (so index i of both is the same element);
      the planner then applies it only where that input dies at this node.
"""

from __future__ import annotations

from ..compiler.graph import Graph, Node, Value
from ..compiler.ops import OPS, Pattern
from .memory_plan import MemoryPlan, Step, plan_memory

ELEMENTWISE = frozenset({Pattern.ELEMWISE, Pattern.BROADCAST})


def plan_graph(graph: Graph, alignment: int = 64, inplace: bool = True) -> MemoryPlan:
    """Plan the arena of `graph`'s intermediate tensors; offsets are keyed by `Value`."""
    external = set(graph.inputs) | set(graph.outputs) | set(graph.constants())
    sizes: dict[Value, int] = {}
    steps = []
    for i, node in enumerate(graph.nodes):
        for v in node.inputs + node.outputs:
            sizes[v] = v.nbytes
        steps.append(Step(node.name or f"{node.op}_{i}", node.inputs, node.outputs,
                          _inplace_candidates(node)))
    for v in graph.outputs:
        sizes[v] = v.nbytes
    return plan_memory(steps, sizes, external, alignment, inplace, name_of=lambda v: v.name)


def _inplace_candidates(node: Node) -> tuple[tuple[Value, Value], ...]:
    if len(node.outputs) != 1 or not _is_elementwise(node):
        return ()
    (out,) = node.outputs
    return tuple((out, v) for v in dict.fromkeys(node.inputs)
                 if not v.is_const and v.shape == out.shape and v.dtype == out.dtype)


def _is_elementwise(node: Node) -> bool:
    if node.op == "Fused":
        return (Pattern[node.attrs["pattern"]] in ELEMENTWISE
                and all(_is_elementwise(n) for n in node.attrs["body"].nodes))
    return OPS[node.op].pattern in ELEMENTWISE
