"""Dead-code elimination: a node survives only if a graph output depends on one of its outputs.

Graph inputs stay even when unused: they are the model's signature.
"""

from __future__ import annotations

from ..graph import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    if len(kept) == len(graph.nodes):
        return graph
    return Graph(graph.inputs, graph.outputs, tuple(reversed(kept)), graph.name)
