"""Layout-only simplifications, as a table of local rewrites on Reshape and Transpose:

    Reshape(Reshape(x))          -> Reshape(x)        (a reshape only looks at x's data order)
    Reshape(x) to x's own shape  -> x
    Transpose(Transpose(x; p); q) -> Transpose(x; p[q])
    Transpose(x; identity perm)  -> x
    Transpose moving only size-1 dimensions -> Reshape (then collapses with its neighbours),
        unless only Transposes read it: they absorb it instead

Squeeze, Unsqueeze and Flatten arrive as Reshape, so they collapse too. A Reshape or Transpose
of a constant is left to `fold_constants`. Inner nodes that lose their last use are left for
`eliminate_dead_code`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..graph import Graph, Node
from .rewrite import Rewriter


def _reshape(rw: Rewriter, node: Node) -> Node | None:
    (x,) = node.inputs
    inner = rw.producer(x)
    source = inner.inputs[0] if inner is not None and inner.op == "Reshape" else x
    if source.shape == node.outputs[0].shape:
        rw.alias(node.outputs[0], source)
        return None
    return replace(node, inputs=(source,))


def _transpose(rw: Rewriter, node: Node) -> Node | None:
    (x,) = node.inputs
    perm = tuple(node.attrs["perm"])
    inner = rw.producer(x)
    if inner is not None and inner.op == "Transpose":
        x, perm = inner.inputs[0], tuple(inner.attrs["perm"][p] for p in perm)
    if perm == tuple(range(len(perm))):
        rw.alias(node.outputs[0], x)
        return None
    moved = [p for p in perm if x.shape[p] != 1]
    users = rw.users(node.outputs[0])
    absorbed = bool(users) and all(u.op == "Transpose" for u in users)
    if moved == sorted(moved) and not absorbed:  # the data order is unchanged: a reshape
        return _reshape(rw, Node("Reshape", (x,), node.outputs,
                                 {"shape": node.outputs[0].shape}, node.name))
    return replace(node, inputs=(x,), attrs={**node.attrs, "perm": perm})


# op -> rewrite(rw, node): the node to keep in its place, or None when it was aliased away.
RULES: dict[str, Callable[[Rewriter, Node], Node | None]] = {
    "Reshape": _reshape,
    "Transpose": _transpose,
}


def simplify_reshapes(graph: Graph) -> Graph:
    rw = Rewriter(graph)
    for node in graph.nodes:
        rule = RULES.get(node.op)
        if rule is None:
            rw.keep(node)
            continue
        node = rule(rw, replace(node, inputs=tuple(map(rw.get, node.inputs))))
        if node is not None:
            rw.keep(node)
    return rw.finish()
