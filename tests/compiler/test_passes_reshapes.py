"""simplify_reshapes: Reshape/Transpose chains collapse, no-ops vanish."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.passes import (eliminate_dead_code, fold_constants, optimize,
                                         simplify_reshapes)

from passes_testing import assert_equivalent, ops


def simplified(g):
    return eliminate_dead_code(simplify_reshapes(g).verify()).verify()


def test_reshape_chain_collapses_to_one():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3, 4), "float32")
    y = b.emit1("Reshape", [b.emit1("Reshape", [b.emit1("Reshape", [x], {"shape": (6, 4)})],
                                    {"shape": (24,)})], {"shape": (4, 6)}, out_name="y")
    g = b.build([y]).verify()
    out = simplified(g)
    assert str(out) == "\n".join([
        "graph g(%x: float32[2, 3, 4]) {",
        "  %y: float32[4, 6] = Reshape(%x; shape=(4,6))",
        "  return %y",
        "}"])
    assert_equivalent(g, out)


def test_reshape_back_to_the_input_shape_vanishes():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    y = b.emit1("Reshape", [b.emit1("Reshape", [x], {"shape": (3, 2)})], {"shape": (2, 3)})
    g = b.build([b.emit1("Relu", [y]), b.emit1("Reshape", [x], {"shape": (2, 3)})]).verify()
    out = simplified(g)
    assert ops(out) == ["Relu", "Identity"]  # the output keeps its own name
    assert out.nodes[0].inputs[0] is x
    assert_equivalent(g, out)


def test_transposes_compose():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4), "float32")
    t = b.emit1("Transpose", [b.emit1("Transpose", [x], {"perm": (1, 2, 0)})],
                {"perm": (0, 2, 1)})
    g = b.build([t]).verify()
    out = simplified(g)
    assert ops(out) == ["Transpose"]
    assert out.nodes[0].inputs[0] is x and out.nodes[0].attrs["perm"] == (1, 0, 2)
    assert_equivalent(g, out)


def test_inverse_transposes_vanish():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4), "float32")
    t = b.emit1("Transpose", [b.emit1("Transpose", [x], {"perm": (2, 0, 1)})],
                {"perm": (1, 2, 0)})
    g = b.build([b.emit1("Relu", [t])]).verify()
    out = simplified(g)
    assert ops(out) == ["Relu"] and out.nodes[0].inputs[0] is x


def test_transpose_of_unit_dims_is_a_reshape_and_collapses():
    b = GraphBuilder()
    x = b.input("x", (1, 6), "float32")
    t = b.emit1("Transpose", [b.emit1("Reshape", [x], {"shape": (2, 1, 3)})],
                {"perm": (1, 0, 2)})
    g = b.build([t]).verify()
    out = simplified(g)
    assert ops(out) == ["Reshape"] and out.nodes[0].inputs[0] is x
    assert out.nodes[0].attrs["shape"] == (1, 2, 3)
    assert_equivalent(g, out)


def test_shared_inner_reshape_stays_for_its_other_user():
    b = GraphBuilder()
    x = b.input("x", (2, 6), "float32")
    inner = b.emit1("Reshape", [x], {"shape": (12,)})
    g = b.build([b.emit1("Relu", [inner]),
                 b.emit1("Reshape", [inner], {"shape": (3, 4)})]).verify()
    out = simplified(g)
    assert ops(out) == ["Reshape", "Relu", "Reshape"]
    assert out.nodes[2].inputs[0] is x
    assert_equivalent(g, out)


def test_transpose_of_a_constant_folds_in_the_pipeline():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    w = b.emit1("Transpose", [b.const(np.arange(12, dtype=np.float32).reshape(4, 3))],
                {"perm": (1, 0)})
    g = b.build([b.emit1("MatMul", [x, w])]).verify()
    out = optimize(g)
    assert ops(out) == ["MatMul"] and out.nodes[0].inputs[1].shape == (3, 4)
    assert ops(fold_constants(simplify_reshapes(g))) == ["MatMul"]
    assert_equivalent(g, out)


layout_steps = st.lists(st.tuples(st.sampled_from(["Transpose", "Reshape"]),
                                  st.permutations(range(4)).map(tuple)), min_size=1, max_size=6)


def _is_unit_move(perm, shape):
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


@given(st.permutations([1, 2, 3, 1]), layout_steps)
@example([1, 2, 3, 1], [("Transpose", (0, 1, 3, 2)), ("Transpose", (0, 2, 3, 1))])
def test_random_layout_chains_leave_nothing_to_simplify(dims, steps):
    """Reshape(p) here means: to the current shape's dims listed in order p."""
    b = GraphBuilder()
    v = x = b.input("x", tuple(dims), "float32")
    for op, p in steps:
        attrs = {"perm": p} if op == "Transpose" else {"shape": tuple(v.shape[i] for i in p)}
        v = b.emit1(op, [v], attrs)
    g = b.build([b.emit1("Relu", [v])]).verify()
    out = simplified(g)
    made_by = out.producers()
    for n in out.nodes:
        src = n.inputs[0]
        inner = made_by.get(src)
        assert inner is None or inner.op != n.op, "a chain of the same op is left"
        assert n.op != "Reshape" or n.outputs[0].shape != src.shape
        assert n.op != "Transpose" or not _is_unit_move(n.attrs["perm"], src.shape)
    if all(op == steps[0][0] for op, _ in steps):
        assert len(out.nodes) <= 2
    assert_equivalent(g, out)
