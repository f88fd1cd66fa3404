"""Constant folding: a node whose inputs are all constants runs once, now, with its NumPy
reference, and its outputs become constants under the same names. Shape and Size need only
their input's static shape, so they fold even when the input is computed at run time
(`fold_shapes` folds them alone: all opt_level 0 does). A value with no elements is known
whatever computes it (graph inputs included): it folds like a constant, so a reduction over
it becomes its identity and an all-empty graph no kernel.

Size rule: a folded node may produce at most as many elements as its constant inputs hold
together, or MAX_GROWTH_ELEMENTS (1M), whichever is larger. Folding moves work from run time
into the model's weights; that is a good trade for Transpose of a weight or a shape
computation, and a bad one for Expand/Tile/ConstantOfShape/Range turning a few bytes into
megabytes: such a node stays, as it is cheaper to compute at run time than to store and load.

A node whose reference raises (e.g. Gather with an out-of-range constant index) stays as it
is with a warning: the model would fail the same way at run time, not at compile time.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from ..graph import Graph, Node
from ..ops import run_op
from .families import NONDETERMINISTIC, SHAPE_ONLY
from .rewrite import Rewriter

MAX_GROWTH_ELEMENTS = 1 << 20

log = logging.getLogger("tensorforge.passes")


def _arguments(node: Node) -> list[np.ndarray] | None:
    """The arrays to fold `node` with, or None when it cannot fold."""
    if node.op in NONDETERMINISTIC:
        return None
    if node.op in SHAPE_ONLY:
        if not all(isinstance(d, int) for v in node.inputs for d in v.shape):
            return None  # symbolic dimension: only known at run time
        return [np.broadcast_to(np.zeros((), v.dtype), v.shape) for v in node.inputs]
    if all(v.is_const or v.size == 0 for v in node.inputs):  # an empty value is known
        return [v.data if v.is_const else np.empty(v.shape, v.dtype) for v in node.inputs]
    return None


def _small_enough(node: Node) -> bool:
    held = 0 if node.op in SHAPE_ONLY else sum(v.size for v in node.inputs)
    made = sum(v.size for v in node.outputs)
    return made <= max(held, MAX_GROWTH_ELEMENTS)


def _shape_arguments(node: Node) -> list[np.ndarray] | None:
    return _arguments(node) if node.op in SHAPE_ONLY else None


def fold_constants(graph: Graph) -> Graph:
    return _fold(graph, _arguments)


def fold_shapes(graph: Graph) -> Graph:
    """Fold Shape and Size only: a static shape is a constant even where nothing else is
    optimized (opt_level 0), and they have no kernel."""
    return _fold(graph, _shape_arguments)


def _fold(graph: Graph, arguments: Callable[[Node], list[np.ndarray] | None]) -> Graph:
    rw = Rewriter(graph)
    for node in graph.nodes:
        node = rw.keep(node)
        args = arguments(node)
        if args is None or not _small_enough(node):
            continue
        try:
            results = run_op(node.op, args, node.attrs)
        except Exception as e:  # noqa: BLE001  (any reference failure: keep the node)
            log.warning("not folding %s node %r: its reference raised %s: %s",
                        node.op, node.name, type(e).__name__, e)
            continue
        rw.drop(node)
        for v, arr in zip(node.outputs, results):
            rw.constant(v, arr)
    return rw.finish()
