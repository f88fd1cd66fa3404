"""The scaffolding every rewriting pass shares: walk the old graph in order, keep or replace
nodes, redirect values, and get back a graph whose names are unique and whose outputs keep
their names.

A pass keeps a node (`keep`), emits new nodes (`emit`, `constant`), or says that uses of an
old value now read another one (`alias`). Inputs of kept and emitted nodes are redirected as
they are added, so `producer` always answers for the graph being built (this is what lets a
pass match chains it has already rewritten). `finish` settles graph outputs: an aliased output
takes over its replacement's definition under the output's name where that is safe, and gets
an `Identity` where it is not (the replacement is a graph input, a constant, or already another
output).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import GraphError
from ..graph import Graph, GraphBuilder, Node, Value, substitute


def all_values(graph: Graph) -> list[Value]:
    """Every value of `graph`: inputs, constants and node outputs."""
    nodes_values = ((*n.inputs, *n.outputs) for n in graph.nodes)
    seen: dict[int, Value] = {}
    for v in itertools.chain(graph.inputs, *nodes_values, graph.outputs):
        seen.setdefault(id(v), v)
    return list(seen.values())


class Rewriter:
    """Builds one pass's result from `graph` (see the module docstring)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.builder = GraphBuilder(graph.name)
        self.builder.inputs = list(graph.inputs)
        for v in all_values(graph):
            self.builder.reserve(v)
        self._alias: dict[Value, Value] = {}
        self._producer: dict[Value, Node] = {}
        self._dropped: set[int] = set()

    # -- queries ------------------------------------------------------------------------------
    def get(self, v: Value) -> Value:
        """The value that now stands for `v`."""
        while v in self._alias:
            v = self._alias[v]
        return v

    @cached_property
    def _users(self) -> dict[Value, list[Node]]:
        return self.graph.consumers()

    def users(self, v: Value) -> list[Node]:
        """The nodes of the original graph that read `v`."""
        return self._users.get(v, [])

    def producer(self, v: Value) -> Node | None:
        """The node of the new graph defining `get(v)` (None for inputs and constants)."""
        return self._producer.get(self.get(v))

    # -- edits --------------------------------------------------------------------------------
    def keep(self, node: Node) -> Node:
        """Add `node` (its inputs redirected); returns the node as added."""
        inputs = tuple(self.get(v) for v in node.inputs)
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            node = replace(node, inputs=inputs)
        self.builder.nodes.append(node)
        for o in node.outputs:
            self._producer[o] = node
        return node

    def drop(self, node: Node) -> None:
        """Remove a node added earlier (its outputs must have lost every use)."""
        self._dropped.add(id(node))

    def emit(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
             name: str = "", replaces: Sequence[Value] = ()) -> tuple[Value, ...]:
        """A new node; its outputs take over `replaces` (same names, types must match)."""
        for v in replaces:
            self.builder.release(v.name)
        outs = self.builder.emit(op, [self.get(v) for v in inputs], attrs, name,
                                 [v.name for v in replaces] or None)
        node = self.builder.nodes.pop()
        self.keep(node)
        for old, new in zip(replaces, outs):
            if (old.shape, old.dtype) != (new.shape, new.dtype):
                raise GraphError(f"{op} node {name!r} cannot replace %{old.name}: it makes "
                                 f"{new.type_str()}, the value is {old.type_str()}")
            self._alias[old] = new
        return outs

    def emit1(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
              name: str = "", replaces: Value | None = None) -> Value:
        (out,) = self.emit(op, inputs, attrs, name, [replaces] if replaces is not None else [])
        return out

    def new_constant(self, data: np.ndarray, hint: str = "const") -> Value:
        return self.builder.const(data, name=hint)

    def constant(self, old: Value, data: np.ndarray) -> Value:
        """Replace `old` by a constant holding `data` (cast to `old`'s dtype), same name."""
        arr = np.asarray(data)
        if tuple(arr.shape) != old.shape:
            raise GraphError(f"constant for %{old.name} has shape {list(arr.shape)}, the value "
                             f"is {old.type_str()}")
        arr = arr.astype(old.dtype, order="C", copy=not arr.flags.c_contiguous)
        arr.setflags(write=False)
        c = Value(old.name, old.shape, old.dtype, arr)
        self._alias[old] = c
        return c

    def alias(self, old: Value, new: Value) -> None:
        """Uses of `old` read `new` from now on (same type required)."""
        new = self.get(new)
        if (old.shape, old.dtype) != (new.shape, new.dtype):
            raise GraphError(f"cannot alias %{old.name} ({old.type_str()}) to %{new.name} "
                             f"({new.type_str()})")
        if new is not old:
            self._alias[old] = new

    # -- result -------------------------------------------------------------------------------
    def finish(self) -> Graph:
        nodes = [n for n in self.builder.nodes if id(n) not in self._dropped]
        produced = {o for n in nodes for o in n.outputs}
        resolved = [self.get(o) for o in self.graph.outputs]
        taken = {r for o, r in zip(self.graph.outputs, resolved) if r is o or r.name == o.name}
        renames: dict[Value, Value] = {}
        outputs = []
        for o, r in zip(self.graph.outputs, resolved):
            if r is o or r.name == o.name:
                outputs.append(r)
            elif r in produced and r not in taken:
                taken.add(r)
                renames[r] = Value(o.name, r.shape, r.dtype, r.data)
                outputs.append(r)
            else:  # the output must stay a distinct value under its own name
                nodes.append(Node("Identity", (r,), (o,), {}, o.name))
                outputs.append(o)
        graph = Graph(self.graph.inputs, tuple(outputs), tuple(nodes), self.graph.name)
        return substitute(graph, renames)
