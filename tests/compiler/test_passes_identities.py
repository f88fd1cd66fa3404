"""remove_identities: Identity nodes vanish, graph outputs keep their names."""

import numpy as np
import pytest
from hypothesis import given

from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.passes import remove_identities

from passes_testing import assert_equivalent, ops, square_graphs


def test_inner_identity_chain_vanishes():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3), "float32")
    y = b.emit1("Relu", [b.emit1("Identity", [b.emit1("Identity", [x])])], out_name="y")
    g = b.build([y]).verify()
    out = remove_identities(g).verify()
    assert str(out) == "\n".join([
        "graph g(%x: float32[2, 3]) {",
        "  %y: float32[2, 3] = Relu(%x)",
        "  return %y",
        "}"])


def test_output_identity_renames_the_copied_value():
    b = GraphBuilder("g")
    x = b.input("x", (2,), "float32")
    r = b.emit1("Relu", [x], out_name="hidden")
    e = b.emit1("Exp", [r])
    out_value = b.emit1("Identity", [r], out_name="out")
    g = b.build([out_value, e]).verify()
    out = remove_identities(g).verify()
    assert ops(out) == ["Relu", "Exp"]
    assert [v.name for v in out.outputs] == ["out", e.name]
    assert out.nodes[1].inputs[0] is out.nodes[0].outputs[0]  # Exp reads the renamed value
    assert_equivalent(g, out)


@pytest.mark.parametrize("source", ["input", "constant", "other_output"])
def test_output_identity_stays_when_its_input_cannot_take_the_name(source):
    b = GraphBuilder("g")
    x = b.input("x", (2,), "float32")
    relu = b.emit1("Relu", [x], out_name="r")
    src = {"input": x, "constant": b.const(np.ones(2, np.float32)), "other_output": relu}[source]
    ident = b.emit1("Identity", [src], out_name="copy")
    g = b.build([relu, ident]).verify()
    out = remove_identities(g).verify()
    assert ops(out) == ["Relu", "Identity"]
    assert [v.name for v in out.outputs] == ["r", "copy"]
    assert_equivalent(g, out)


def test_two_outputs_copying_one_value():
    b = GraphBuilder("g")
    x = b.input("x", (2,), "float32")
    r = b.emit1("Relu", [x])
    g = b.build([b.emit1("Identity", [r], out_name="a"),
                 b.emit1("Identity", [r], out_name="b")]).verify()
    out = remove_identities(g).verify()
    assert ops(out) == ["Relu", "Identity"]
    assert [v.name for v in out.outputs] == ["a", "b"]
    assert_equivalent(g, out)


@given(square_graphs())
def test_random_graphs_lose_every_inner_identity(g):
    out = remove_identities(g).verify()
    outputs, inputs = set(out.outputs), set(out.inputs)
    for n in out.nodes:
        if n.op == "Identity":  # kept only to give an output its own name
            assert n.outputs[0] in outputs
            src = n.inputs[0]
            assert src in inputs or src.is_const or src in outputs
    assert len(out.nodes) == len(g.nodes) - sum(
        n.op == "Identity" for n in g.nodes) + sum(n.op == "Identity" for n in out.nodes)
    assert_equivalent(g, out)
