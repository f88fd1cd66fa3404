"""Helpers shared by the graph-pass tests: random feeds and before/after equivalence."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tensorforge.compiler import Graph, GraphBuilder, evaluate

# Passes reorder float arithmetic (folded BatchNorm, composed constants): allow for rounding.
PASS_TOLERANCE = {"float16": (1e-2, 1e-3), "float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)}


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        kind = np.dtype(v.dtype).kind
        if kind == "f":
            feeds[v.name] = rng.standard_normal(v.shape).astype(v.dtype)
        elif kind == "b":
            feeds[v.name] = rng.random(v.shape) < 0.5
        else:
            feeds[v.name] = rng.integers(0, 5, v.shape).astype(v.dtype)
    return feeds


def assert_equivalent(before: Graph, after: Graph, feeds: dict | None = None) -> None:
    """Same output names, types and values on the same feeds."""
    feeds = random_feeds(before) if feeds is None else feeds
    want, got = evaluate(before, feeds), evaluate(after, feeds)
    assert list(got) == list(want), f"outputs renamed: {list(got)} != {list(want)}"
    for name, ref in want.items():
        assert got[name].dtype == ref.dtype and got[name].shape == ref.shape, name
        if ref.dtype.kind == "f":
            rtol, atol = PASS_TOLERANCE[str(ref.dtype)]
            np.testing.assert_allclose(got[name], ref, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], ref, err_msg=name)


def ops(graph: Graph) -> list[str]:
    """The top-level op names in order."""
    return [n.op for n in graph.nodes]


# -- random dataflow graphs: every value is float32[3, 3], so any op may read any value -------

SQUARE = (3, 3)
UNARY = [("Relu", {}), ("Neg", {}), ("Exp", {}), ("Identity", {}), ("Softmax", {"axis": 1}),
         ("Transpose", {"perm": (1, 0)}), ("Reshape", {"shape": SQUARE}),
         ("Clip", {"min": -1.0, "max": 1.0})]
BINARY = [("Add", {}), ("Mul", {}), ("Sub", {}), ("MatMul", {})]


@st.composite
def square_graphs(draw, max_nodes: int = 10) -> Graph:
    """A random DAG over float32[3, 3] values; second operands may be constants of shapes
    [3, 3], [3] or [] (broadcasting), some of them equal, so CSE and folding have work."""
    b = GraphBuilder("random")
    values = [b.input("x", SQUARE, "float32"), b.input("y", SQUARE, "float32")]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    consts = [b.const(rng.standard_normal(s).astype("float32"), "c") for s in (SQUARE, (3,), ())]
    consts.append(b.const(consts[1].data.copy(), "c"))  # an equal copy
    for _ in range(draw(st.integers(1, max_nodes))):
        if draw(st.booleans()):
            op, attrs = draw(st.sampled_from(UNARY))
            args = [draw(st.sampled_from(values))]
        else:
            op, attrs = draw(st.sampled_from(BINARY))
            second = values + (consts[:1] if op == "MatMul" else consts)
            args = [draw(st.sampled_from(values)), draw(st.sampled_from(second))]
        values.append(b.emit1(op, args, attrs))
    outs = draw(st.lists(st.sampled_from(values[2:]), min_size=1, max_size=3, unique_by=id))
    return b.build(outs).verify()
