"""eliminate_dead_code: only what the graph outputs depend on survives."""

from hypothesis import given

from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.passes import eliminate_dead_code

from passes_testing import assert_equivalent, ops, square_graphs


def test_unused_chain_goes_and_inputs_stay():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    unused = b.input("unused", (4,), "float32")
    live = b.emit1("Relu", [x])
    b.emit1("Neg", [b.emit1("Exp", [x])])
    g = b.build([live]).verify()
    out = eliminate_dead_code(g).verify()
    assert ops(out) == ["Relu"]
    assert out.inputs == (x, unused)


def test_multi_output_node_stays_when_one_output_is_used():
    b = GraphBuilder()
    x = b.input("x", (4, 3), "float32")
    first, _ = b.emit("Split", [x], {"axis": 0, "split": (2, 2)})
    b.emit1("Relu", [x])
    g = b.build([first]).verify()
    assert ops(eliminate_dead_code(g).verify()) == ["Split"]


def test_nothing_dead_returns_the_same_graph():
    b = GraphBuilder()
    x = b.input("x", (2,), "float32")
    g = b.build([b.emit1("Relu", [x]), x])
    assert eliminate_dead_code(g) is g


@given(square_graphs())
def test_keeps_exactly_the_ancestors_of_the_outputs(g):
    out = eliminate_dead_code(g).verify()
    needed, stack = set(), list(g.outputs)
    producers = g.producers()
    while stack:
        node = producers.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack.extend(node.inputs)
    assert [id(n) for n in out.nodes] == [id(n) for n in g.nodes if id(n) in needed]
    assert eliminate_dead_code(out) is out
    assert_equivalent(g, out)
