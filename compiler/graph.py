"""Graph IR: an ordered list of Nodes over Values, each Value with a static shape and dtype.

Values and Nodes are frozen and compared by identity, so a pass never mutates a graph: it
builds a new one (usually through `GraphBuilder`) and old graphs stay valid.
Op semantics (shape inference, NumPy reference, fusion pattern) live in `compiler.ops`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .errors import GraphError

Shape = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Value:
    """An SSA tensor: a graph input, a node output, or a constant (when `data` is set)."""

    name: str
    shape: Shape
    dtype: str
    data: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def type_str(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type_str()}"


@dataclass(frozen=True, eq=False)
class Node:
    """One operator application. `attrs` hold every static parameter (hashable values)."""

    op: str
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""

    def attr_key(self) -> tuple:
        """A hashable, order-independent view of the attributes (for CSE and cache keys)."""
        return tuple(sorted((k, _hashable(v)) for k, v in self.attrs.items()))

    def __str__(self) -> str:
        outs = ", ".join(repr(v) for v in self.outputs)
        ins = ", ".join(_operand(v) for v in self.inputs)
        attrs = ", ".join(f"{k}={_attr_str(v)}" for k, v in sorted(self.attrs.items()))
        label = f"  # {self.name}" if self.name else ""
        return f"{outs} = {self.op}({ins}{'; ' + attrs if attrs else ''}){label}"


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, Graph):
        return id(v)
    return v


def _operand(v: Value) -> str:
    if v.is_const and v.size <= 4:
        return f"const({np.array2string(v.data.ravel(), separator=',')}:{v.dtype})"
    return f"%{v.name}"


def _attr_str(v: Any) -> str:
    if isinstance(v, Graph):
        return f"<graph {len(v.nodes)} nodes>"
    if isinstance(v, tuple):
        return "(" + ",".join(map(_attr_str, v)) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True, eq=False)
class Graph:
    """A topologically ordered dataflow graph with named inputs and outputs."""

    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    nodes: tuple[Node, ...]
    name: str = "graph"

    # -- views ------------------------------------------------------------------------------
    def constants(self) -> list[Value]:
        """Constant values used by nodes or returned as outputs, in first-use order."""
        seen: dict[int, Value] = {}
        for v in itertools.chain((i for n in self.nodes for i in n.inputs), self.outputs):
            if v.is_const:
                seen.setdefault(id(v), v)
        return list(seen.values())

    def producers(self) -> dict[Value, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[Value, list[Node]]:
        users: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                lst = users.setdefault(v, [])
                if not lst or lst[-1] is not n:
                    lst.append(n)
        return users

    def walk(self) -> Iterator[Node]:
        """Every node, descending into subgraphs held in attributes (fused groups)."""
        for n in self.nodes:
            yield n
            for a in n.attrs.values():
                if isinstance(a, Graph):
                    yield from a.walk()

    def op_histogram(self, nested: bool = True) -> dict[str, int]:
        hist: dict[str, int] = {}
        for n in self.walk() if nested else self.nodes:
            hist[n.op] = hist.get(n.op, 0) + 1
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))

    # -- printing ---------------------------------------------------------------------------
    def __str__(self) -> str:
        lines = [f"graph {self.name}({', '.join(map(repr, self.inputs))}) {{"]
        big_consts = [c for c in self.constants() if c.size > 4]
        if big_consts:
            lines.append(f"  # {len(big_consts)} constants, "
                         f"{sum(c.nbytes for c in big_consts)} bytes")
        for n in self.nodes:
            lines.append("  " + str(n))
            for a in n.attrs.values():
                if isinstance(a, Graph):
                    lines.extend("    | " + s for s in str(a).splitlines())
        lines.append(f"  return {', '.join(_operand(v) for v in self.outputs)}")
        lines.append("}")
        return "\n".join(lines)

    __repr__ = __str__

    # -- verification -----------------------------------------------------------------------
    def verify(self) -> "Graph":
        """Check SSA form, topological order, unique names and inferred types; return self."""
        from .ops import infer_types  # ops depend on graph, not the other way round

        defined: set[int] = set()
        names: set[str] = set()

        def define(v: Value, where: str) -> None:
            if id(v) in defined:
                raise GraphError(f"{where}: value %{v.name} is defined twice (not SSA)")
            if v.name in names:
                raise GraphError(f"{where}: two values share the name %{v.name}")
            defined.add(id(v))
            names.add(v.name)

        for v in self.inputs:
            if v.is_const:
                raise GraphError(f"graph input %{v.name} must not be a constant")
            define(v, "graph inputs")
        for n in self.nodes:
            where = f"node {n.name or n.op} ({n.op})"
            for v in n.inputs:
                if v.is_const:
                    _check_const(v, where)
                    if id(v) not in defined:
                        define(v, where)
                elif id(v) not in defined:
                    raise GraphError(f"{where}: input %{v.name} is used before it is defined "
                                     "(graph is not in topological order)")
            expected = infer_types(n.op, n.inputs, n.attrs, where)
            if len(expected) != len(n.outputs):
                raise GraphError(f"{where}: has {len(n.outputs)} outputs, op defines "
                                 f"{len(expected)}")
            for v, (shape, dtype) in zip(n.outputs, expected):
                if tuple(v.shape) != tuple(shape) or v.dtype != dtype:
                    raise GraphError(f"{where}: output %{v.name} is {v.type_str()}, inference "
                                     f"says {dtype}[{', '.join(map(str, shape))}]")
                define(v, where)
        for v in self.outputs:
            if v.is_const:
                _check_const(v, "graph outputs")
            elif id(v) not in defined:
                raise GraphError(f"graph output %{v.name} is never defined")
        return self


def _check_const(v: Value, where: str) -> None:
    if tuple(v.data.shape) != tuple(v.shape) or v.data.dtype != np.dtype(v.dtype):
        raise GraphError(f"{where}: constant %{v.name} holds {v.data.dtype}{list(v.data.shape)} "
                         f"but is typed {v.type_str()}")


class GraphBuilder:
    """Builds a graph node by node, inferring each output's shape and dtype from `compiler.ops`.

    Names stay unique: a requested name already in use gets a numeric suffix.
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self.inputs: list[Value] = []
        self.nodes: list[Node] = []
        self._names: set[str] = set()
        self._counter = itertools.count()

    def fresh(self, hint: str) -> str:
        hint = hint or "t"
        name = hint
        while name in self._names:
            name = f"{hint}_{next(self._counter)}"
        self._names.add(name)
        return name

    def input(self, name: str, shape: Sequence[int], dtype: str) -> Value:
        v = Value(self.fresh(name), tuple(int(d) for d in shape), str(np.dtype(dtype)))
        self.inputs.append(v)
        return v

    def const(self, data: Any, name: str = "const", dtype: str | None = None) -> Value:
        arr = np.asarray(data, dtype=dtype)
        arr.setflags(write=False)
        return Value(self.fresh(name), tuple(arr.shape), str(arr.dtype), arr)

    def release(self, name: str) -> None:
        """Free a name reserved with `fresh`, so the next value may take it exactly."""
        self._names.discard(name)

    def reserve(self, v: Value) -> Value:
        """Adopt an existing value (e.g. a constant from another graph) keeping its identity."""
        self._names.add(v.name)
        return v

    def emit(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
             name: str = "", out_names: Sequence[str] | None = None) -> tuple[Value, ...]:
        from .ops import infer_types

        attrs = {k: _freeze(v) for k, v in (attrs or {}).items()}
        inputs = tuple(inputs)
        where = f"node {name or op} ({op})"
        types = infer_types(op, inputs, attrs, where)
        hints = list(out_names or []) + [f"{name or op.lower()}_out{i}" for i in range(len(types))]
        outs = tuple(Value(self.fresh(h), tuple(int(d) for d in s), str(np.dtype(dt)))
                     for h, (s, dt) in zip(hints, types))
        self.nodes.append(Node(op, inputs, outs, attrs, name))
        return outs

    def emit1(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
              name: str = "", out_name: str | None = None) -> Value:
        (out,) = self.emit(op, inputs, attrs, name, [out_name] if out_name else None)
        return out

    def build(self, outputs: Sequence[Value]) -> Graph:
        return Graph(tuple(self.inputs), tuple(outputs), tuple(self.nodes), self.name)


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def substitute(graph: Graph, mapping: Mapping[Value, Value]) -> Graph:
    """Rebuild `graph` with every use (and definition) of a key value replaced by its mapped
    value. Replacement values must already carry the right type."""
    if not mapping:
        return graph

    def sub(v: Value) -> Value:
        while v in mapping and mapping[v] is not v:
            v = mapping[v]
        return v

    nodes = tuple(Node(n.op, tuple(map(sub, n.inputs)), tuple(map(sub, n.outputs)), n.attrs,
                       n.name) for n in graph.nodes)
    return Graph(tuple(map(sub, graph.inputs)), tuple(map(sub, graph.outputs)), nodes, graph.name)


def rename_values(graph: Graph, names: Mapping[Value, str]) -> Graph:
    """Give the listed values new names (types and data unchanged)."""
    return substitute(graph, {v: Value(name, v.shape, v.dtype, v.data) for v, name in names.items()})
