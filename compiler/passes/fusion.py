"""Operator fusion: partition the graph into kernel groups, TVM style (relay FuseOps).

Every node has a pattern (ELEMWISE < BROADCAST < INJECTIVE < REDUCTION < OUT_ELEMWISE_FUSABLE
< OPAQUE). An edge's pattern is its consumer's, except that a BROADCAST consumer whose output
has the edge value's shape is ELEMWISE on that edge (a bias add on a conv output). A node may
fuse only into its immediate post-dominator d (every path from it to a graph output passes d),
taking along every node on the paths between them, and only when every group on those paths
passes the rule for the node's pattern:

    OUT_ELEMWISE_FUSABLE (Conv, MatMul, Gemm): all edges to d ELEMWISE, groups on the
        paths and d's group at most BROADCAST              -> epilogues: bias, BN, Relu, Clip,
                                                              residual Add, GELU/Erf chains
    ELEMWISE / BROADCAST: edges to d at most INJECTIVE or REDUCTION; groups on the paths at
        most INJECTIVE, d's group anything but OPAQUE      -> prologues of reductions,
                                                              elementwise chains
    INJECTIVE (second phase, once epilogues are settled): groups on the paths at most
        INJECTIVE, d's group anything but OPAQUE            -> injective chains, and into the
                                                              anchor that follows them
    REDUCTION, OPAQUE: never fuse forward.

A group's pattern is its root's (the node everything flows into), raised to its anchor's when
it absorbs one, so a group holds at most one REDUCTION-or-heavier anchor. Since fusion follows
post-dominators, a group is entered only through its inputs and no path leaves and re-enters
it; a value made inside and used outside (or a graph output) becomes a group output.

Each group of two or more nodes becomes one node `Fused` (see compiler/ops/fused.py) with
attrs body=<the group's nodes as a Graph over its external non-constant inputs>,
pattern=<anchor's Pattern name>, anchor=<anchor's op>; a single node stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import networkx as nx

from ..errors import GraphError
from ..graph import Graph, Node, Value
from ..ops import Pattern, get_op

P = Pattern
SINK = -1  # the virtual node every graph output flows into


@dataclass
class _Group:
    """A union-find set of node indices; `pattern` is meaningful at the root only."""

    pattern: Pattern
    parent: "_Group | None" = None

    def root(self) -> "_Group":
        g = self
        while g.parent is not None:
            g = g.parent
        return g


class _Partition:
    """The dataflow graph over node indices, its post-dominator tree and the groups."""

    def __init__(self, graph: Graph):
        self.nodes = graph.nodes
        index = {id(n): i for i, n in enumerate(graph.nodes)}
        made_by = {o: index[id(n)] for n in graph.nodes for o in n.outputs}
        self.pattern = [get_op(n.op).pattern for n in graph.nodes]
        self.edges: list[dict[int, Pattern]] = [{} for _ in graph.nodes]
        for j, n in enumerate(graph.nodes):
            for v in n.inputs:
                if v in made_by:
                    i = made_by[v]
                    self.edges[i][j] = max(self.edges[i].get(j, P.ELEMWISE),
                                           self._edge_pattern(v, n, self.pattern[j]))
        rev = nx.DiGraph()
        rev.add_nodes_from(range(len(graph.nodes)))
        rev.add_node(SINK)
        rev.add_edges_from((j, i) for i, outs in enumerate(self.edges) for j in outs)
        external = {made_by[v] for v in graph.outputs if v in made_by}
        rev.add_edges_from((SINK, i) for i, outs in enumerate(self.edges)
                           if i in external or not outs)
        idom = nx.immediate_dominators(rev, SINK)
        self.ipdom = [idom.get(i, SINK) for i in range(len(graph.nodes))]
        self.groups = [_Group(p) for p in self.pattern]

    @staticmethod
    def _edge_pattern(v: Value, consumer: Node, pattern: Pattern) -> Pattern:
        if pattern == P.BROADCAST and consumer.outputs and consumer.outputs[0].shape == v.shape:
            return P.ELEMWISE
        return pattern

    def _between(self, src: int, sink: int) -> list[int]:
        """Nodes on paths from src to its post-dominator sink (sink included, src not)."""
        seen, stack = set(), list(self.edges[src])
        while stack:
            u = stack.pop()
            if u not in seen:
                seen.add(u)
                if u != sink:
                    stack.extend(self.edges[u])
        return sorted(seen)

    def _edges_to(self, src: int, path: list[int], sink: int) -> Pattern:
        """The heaviest edge pattern on the paths from src to sink."""
        return max(p for u in (src, *path) if u != sink for p in self.edges[u].values())

    def try_fuse(self, i: int, phase: int) -> None:
        group, d = self.groups[i], self.ipdom[i]
        rule = RULES.get((phase, group.pattern))
        if rule is None or d == SINK or group.root() is self.groups[d].root():
            return
        path = self._between(i, d)
        if not rule.edges(self._edges_to(i, path, d)) or not self._check(path, d, rule.fcond):
            return
        target = self.groups[d].root()
        for u in path:
            self._merge(self.groups[u].root(), target)
        self._merge(group.root(), target)

    def _check(self, path: list[int], sink: int, fcond: Callable[[Pattern, bool], bool]) -> bool:
        return all(fcond(self.groups[u].root().pattern, u == sink) for u in path)

    @staticmethod
    def _merge(child: _Group, parent: _Group) -> None:
        if child is parent:
            return
        child.parent = parent
        if child.pattern >= P.REDUCTION:  # the child brings the anchor
            parent.pattern = max(parent.pattern, child.pattern)

    def run(self) -> list[list[int]]:
        """The groups as lists of node indices, each in graph order."""
        for phase in (0, 1):
            for i in range(len(self.nodes)):
                self.try_fuse(i, phase)
        members: dict[int, list[int]] = {}
        for i, g in enumerate(self.groups):
            members.setdefault(id(g.root()), []).append(i)
        return list(members.values())


class _Rule(NamedTuple):
    """When a group may fuse into its post-dominator: `edges` judges the heaviest edge
    pattern on the way, `fcond(group pattern, is_sink)` each group met (TVM's CheckPath)."""

    edges: Callable[[Pattern], bool]
    fcond: Callable[[Pattern, bool], bool]


# (phase, group pattern) -> rule; no rule: never fuses forward (REDUCTION, OPAQUE). Phase 1
# defers injective fusion until the epilogues are settled.
RULES: dict[tuple[int, Pattern], _Rule] = {
    (0, P.OUT_ELEMWISE_FUSABLE): _Rule(lambda e: e == P.ELEMWISE,
                                       lambda k, sink: k <= P.BROADCAST),
    **{(0, p): _Rule(lambda e: e <= P.INJECTIVE or e == P.REDUCTION,
                     lambda k, sink: k < P.OPAQUE if sink else k <= P.INJECTIVE)
       for p in (P.ELEMWISE, P.BROADCAST)},
    (1, P.INJECTIVE): _Rule(lambda e: True,
                            lambda k, sink: k < P.OPAQUE if sink else k <= P.INJECTIVE),
}


def _anchor(nodes: list[Node]) -> Node:
    """The heaviest node (the last one on ties: the one the group's data flows into)."""
    return max(reversed(nodes), key=lambda n: get_op(n.op).pattern)


def _fused_node(members: list[Node], used_outside: set[Value]) -> Node:
    inside = {o for n in members for o in n.outputs}
    inputs = list(dict.fromkeys(v for n in members for v in n.inputs
                                if not v.is_const and v not in inside))
    outputs = [o for n in members for o in n.outputs if o in used_outside]
    anchor = _anchor(members)
    name = f"fused_{anchor.name or anchor.op.lower()}"
    body = Graph(tuple(inputs), tuple(outputs), tuple(members), name)
    attrs = {"body": body, "pattern": get_op(anchor.op).pattern.name, "anchor": anchor.op}
    return Node("Fused", tuple(inputs), tuple(outputs), attrs, name)


def fuse_operators(graph: Graph) -> Graph:
    groups = _Partition(graph).run()
    group_of = {i: k for k, members in enumerate(groups) for i in members}
    made_in = {o: group_of[i] for i, n in enumerate(graph.nodes) for o in n.outputs}
    order = nx.DiGraph()
    order.add_nodes_from(range(len(groups)))
    used_outside = set(graph.outputs)
    for j, n in enumerate(graph.nodes):
        for v in n.inputs:
            if v in made_in and made_in[v] != group_of[j]:
                order.add_edge(made_in[v], group_of[j])
                used_outside.add(v)
    try:
        ranked = list(nx.lexicographical_topological_sort(order, key=lambda k: groups[k][0]))
    except nx.NetworkXUnfeasible:
        raise GraphError("fusion made a cycle between kernel groups (a fusion rule is wrong)")
    nodes = []
    for k in ranked:
        members = [graph.nodes[i] for i in groups[k]]
        nodes.append(members[0] if len(members) == 1 else _fused_node(members, used_outside))
    return Graph(graph.inputs, graph.outputs, tuple(nodes), graph.name)
