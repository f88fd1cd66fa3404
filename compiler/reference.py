"""Reference executor: evaluates a graph with each op's NumPy definition. It is the oracle for
later stages and the evaluator constant folding uses."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import InputError
from .graph import Graph, Value
from .ops import run_op


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match feeds to graph inputs by name, shape and dtype; an InputError says what differs."""
    expected = {v.name: v for v in graph.inputs}
    missing = sorted(set(expected) - set(feeds))
    extra = sorted(set(feeds) - set(expected))
    if missing or extra:
        raise InputError(f"inputs do not match the model: missing {missing}, unexpected {extra}; "
                         f"the model takes {[f'{v.name}: {v.type_str()}' for v in graph.inputs]}")
    out = {}
    for name, v in expected.items():
        arr = np.asarray(feeds[name])
        if tuple(arr.shape) != v.shape:
            raise InputError(f"input '{name}': expected shape {list(v.shape)}, "
                             f"given {list(arr.shape)}")
        if arr.dtype != np.dtype(v.dtype):
            raise InputError(f"input '{name}': expected dtype {v.dtype}, given {arr.dtype}")
        out[name] = arr
    return out


def run_graph(graph: Graph, args: Mapping[Value, np.ndarray]) -> list[np.ndarray]:
    """Evaluate `graph` given arrays for its input values; returns its outputs in order."""
    env: dict[Value, np.ndarray] = dict(args)
    for node in graph.nodes:
        ins = [v.data if v.is_const else env[v] for v in node.inputs]
        for v, arr in zip(node.outputs, run_op(node.op, ins, node.attrs)):
            env[v] = arr
    return [v.data if v.is_const else env[v] for v in graph.outputs]


def evaluate(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run `graph` on `feeds` (keyed by input name); results keyed by output name."""
    feeds = check_feeds(graph, feeds)
    outs = run_graph(graph, {v: feeds[v.name] for v in graph.inputs})
    return {v.name: np.asarray(a) for v, a in zip(graph.outputs, outs)}
