"""eliminate_common_subexpressions: equal computations happen once."""

import numpy as np
from hypothesis import given

from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.passes import eliminate_common_subexpressions as cse

from passes_testing import assert_equivalent, ops, square_graphs


def test_same_op_same_inputs_same_attrs_merge():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3), "float32")
    t1 = b.emit1("Transpose", [x], {"perm": (1, 0)})
    t2 = b.emit1("Transpose", [x], {"perm": (1, 0)})
    y = b.emit1("Add", [b.emit1("Relu", [t1]), b.emit1("Relu", [t2])], out_name="y")
    g = b.build([y]).verify()
    out = cse(g).verify()
    assert ops(out) == ["Transpose", "Relu", "Add"]
    add = out.nodes[-1]
    assert add.inputs[0] is add.inputs[1]
    assert_equivalent(g, out)


def test_different_attrs_or_inputs_do_not_merge():
    b = GraphBuilder()
    x = b.input("x", (3, 3), "float32")
    y = b.input("y", (3, 3), "float32")
    outs = [b.emit1("Softmax", [x], {"axis": 0}), b.emit1("Softmax", [x], {"axis": 1}),
            b.emit1("Relu", [x]), b.emit1("Relu", [y]), b.emit1("Sub", [x, y]),
            b.emit1("Sub", [y, x])]
    g = b.build(outs).verify()
    assert len(cse(g).verify().nodes) == 6


def test_equal_small_constants_merge_so_their_users_merge():
    b = GraphBuilder()
    x = b.input("x", (4,), "float32")
    half = [b.const(np.float32(0.5), "half") for _ in range(2)]
    other = b.const(np.float32(-0.5), "other")
    outs = [b.emit1("Mul", [x, half[0]]), b.emit1("Mul", [x, half[1]]),
            b.emit1("Mul", [x, other])]
    g = b.build([b.emit1("Add", outs[:2]), outs[2]]).verify()
    out = cse(g).verify()
    assert ops(out) == ["Mul", "Mul", "Add"]
    assert len(out.constants()) == 2
    assert_equivalent(g, out)


def test_large_constants_are_not_compared():
    b = GraphBuilder()
    x = b.input("x", (5000,), "float32")
    w = [b.const(np.ones(5000, np.float32), "w") for _ in range(2)]
    g = b.build([b.emit1("Add", [x, w[0]]), b.emit1("Add", [x, w[1]])]).verify()
    assert len(cse(g).verify().nodes) == 2


def test_duplicate_graph_outputs_keep_their_names():
    b = GraphBuilder("g")
    x = b.input("x", (2,), "float32")
    g = b.build([b.emit1("Relu", [x], out_name="a"), b.emit1("Relu", [x], out_name="b")])
    out = cse(g.verify()).verify()
    assert [v.name for v in out.outputs] == ["a", "b"]
    assert ops(out) == ["Relu", "Identity"]
    assert_equivalent(g, out)


@given(square_graphs(max_nodes=12))
def test_no_two_nodes_left_equal(g):
    out = cse(g).verify()
    keys = [(n.op, tuple(map(id, n.inputs)), n.attr_key()) for n in out.nodes
            if n.op != "Identity"]
    assert len(keys) == len(set(keys))
    assert_equivalent(g, out)
