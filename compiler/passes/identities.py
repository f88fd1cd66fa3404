"""Identity removal: every use of an Identity's output reads its input instead.

Dropout arrives here as Identity (the frontend converts it). Graph outputs keep their names:
when an Identity feeds a graph output, the value it copies is renamed to the output's name,
unless that value is a graph input, a constant or another output, where the Identity stays
(see `Rewriter.finish`).
"""

from __future__ import annotations

from ..graph import Graph
from .rewrite import Rewriter


def remove_identities(graph: Graph) -> Graph:
    rw = Rewriter(graph)
    for node in graph.nodes:
        if node.op == "Identity":
            rw.alias(node.outputs[0], node.inputs[0])
        else:
            rw.keep(node)
    return rw.finish()
