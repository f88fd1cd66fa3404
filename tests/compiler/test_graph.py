"""Graph IR: building, printing, verification, substitution."""

import dataclasses

import numpy as np
import pytest

from tensorforge.compiler import GraphError, GraphBuilder, ShapeError
from tensorforge.compiler.graph import Graph, Node, Value, rename_values, substitute


def relu_chain(n: int = 2) -> Graph:
    b = GraphBuilder("chain")
    x = b.input("x", (2, 3), "float32")
    for _ in range(n):
        x = b.emit1("Relu", [x])
    return b.build([x])


def test_print_shows_one_node_per_line_with_types():
    text = str(relu_chain(2))
    assert text.splitlines()[0] == "graph chain(%x: float32[2, 3]) {"
    assert "%relu_out0: float32[2, 3] = Relu(%x)" in text
    assert text.count("= Relu(") == 2
    assert text.rstrip().endswith("}")


def test_builder_names_stay_unique():
    g = relu_chain(3)
    names = [v.name for n in g.nodes for v in n.outputs]
    assert len(set(names)) == 3
    g.verify()


def test_verify_rejects_use_before_definition():
    g = relu_chain(2)
    bad = dataclasses.replace(g, nodes=tuple(reversed(g.nodes)))
    with pytest.raises(GraphError, match="before it is defined"):
        bad.verify()


def test_verify_rejects_double_definition():
    g = relu_chain(1)
    node = g.nodes[0]
    with pytest.raises(GraphError, match="defined twice"):
        dataclasses.replace(g, nodes=(node, node)).verify()


def test_verify_rejects_wrong_output_type():
    g = relu_chain(1)
    node = g.nodes[0]
    wrong = Value(node.outputs[0].name, (3, 2), "float32")
    bad = Graph(g.inputs, (wrong,), (Node("Relu", node.inputs, (wrong,)),))
    with pytest.raises(GraphError, match=r"inference says float32\[2, 3\]"):
        bad.verify()


def test_verify_rejects_mistyped_constant():
    b = GraphBuilder()
    c = Value("c", (2,), "float32", np.zeros(3, np.float32))
    b.nodes.append(Node("Relu", (c,), (Value("y", (2,), "float32"),)))
    with pytest.raises(GraphError, match="constant %c"):
        b.build([b.nodes[0].outputs[0]]).verify()


def test_unknown_op_is_a_clear_error():
    b = GraphBuilder()
    x = b.input("x", (2,), "float32")
    with pytest.raises(Exception, match="no op named 'Frobnicate'"):
        b.emit1("Frobnicate", [x])


def test_attrs_are_frozen_and_hashable():
    b = GraphBuilder()
    x = b.input("x", (2,), "float32")
    b.emit1("Relu", [x], {"note": [1, [2, 3]]})
    node = b.nodes[0]
    assert node.attrs["note"] == (1, (2, 3))
    hash(node.attr_key())


def test_substitute_and_rename_keep_types():
    g = relu_chain(2)
    first = g.nodes[0].outputs[0]
    renamed = rename_values(g, {first: "hidden"}).verify()
    assert renamed.nodes[1].inputs[0].name == "hidden"
    assert renamed.nodes[0].outputs[0].shape == first.shape
    skip = substitute(g, {g.nodes[1].inputs[0]: g.inputs[0]})
    assert skip.nodes[1].inputs[0] is g.inputs[0]


def test_constants_listed_once():
    b = GraphBuilder()
    c = b.const(np.ones((2, 3), np.float32), "w")
    y = b.emit1("Relu", [c])
    z = b.emit1("Relu", [c])
    g = b.build([y, z]).verify()
    assert [v.name for v in g.constants()] == ["w"]
    assert "1 constants, 24 bytes" in str(g)


def test_shape_error_names_the_node():
    from tensorforge.compiler.ops import infer_types
    from tensorforge.compiler.ops.registry import broadcast_shapes
    with pytest.raises(ShapeError, match=r"\[2, 3\] and \[4\]"):
        broadcast_shapes((2, 3), (4,))
    with pytest.raises(ShapeError, match="node n1"):
        infer_types("Relu", [], {}, "node n1")
