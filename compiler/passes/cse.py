"""Common-subexpression elimination: two nodes with the same op, the very same input values
and equal attributes compute the same thing, so the second one's outputs alias the first's.

Small constants with equal dtype, shape and bytes are merged first, so nodes that differ only
in which copy of a constant they read (exporters repeat scalars like 0.5 or 1.0 per use) become
equal too. Large constants are left alone: comparing them costs more than duplicates do, and
real models rarely repeat a weight.
"""

from __future__ import annotations

from ..graph import Graph, Node, Value
from .families import NONDETERMINISTIC
from .rewrite import Rewriter

MAX_MERGED_CONST_ELEMENTS = 4096


def _const_key(v: Value) -> tuple | None:
    if not v.is_const or v.size > MAX_MERGED_CONST_ELEMENTS:
        return None
    return v.dtype, v.shape, v.data.tobytes()


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    rw = Rewriter(graph)
    outputs = set(graph.outputs)
    consts: dict[tuple, Value] = {}
    seen: dict[tuple, Node] = {}
    for node in graph.nodes:
        for v in node.inputs:
            key = _const_key(v)
            if key is not None and v not in outputs:
                rw.alias(v, consts.setdefault(key, v))
        node = rw.keep(node)
        if node.op in NONDETERMINISTIC:
            continue
        key = (node.op, tuple(id(v) for v in node.inputs), node.attr_key())
        first = seen.setdefault(key, node)
        if first is not node:
            rw.drop(node)
            for old, new in zip(node.outputs, first.outputs):
                rw.alias(old, new)
    return rw.finish()
