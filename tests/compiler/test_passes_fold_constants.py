"""fold_constants: constant subgraphs run at compile time, within the size rule."""

import logging

import numpy as np
import pytest
from hypothesis import given

from tensorforge.compiler import Graph, GraphBuilder
from tensorforge.compiler.passes import fold_constants, fold_shapes
from tensorforge.compiler.passes.fold_constants import MAX_GROWTH_ELEMENTS

from passes_testing import assert_equivalent, ops, random_feeds, square_graphs


def test_constant_chain_folds_under_the_output_names():
    b = GraphBuilder("g")
    x = b.input("x", (3,), "float32")
    c = b.emit1("Neg", [b.emit1("Add", [b.const(np.arange(3, dtype=np.float32)),
                                        b.const(np.float32(1))])], out_name="c")
    g = b.build([b.emit1("Mul", [x, c], out_name="y"), c]).verify()
    out = fold_constants(g).verify()
    assert ops(out) == ["Mul"]
    assert out.outputs[1].is_const and out.outputs[1].name == "c"
    np.testing.assert_array_equal(out.outputs[1].data, [-1, -2, -3])
    assert out.nodes[0].inputs[1] is out.outputs[1]
    assert not out.outputs[1].data.flags.writeable
    assert_equivalent(g, out)


@pytest.mark.parametrize("dtype", ["int64", "int32", "float16", "float64", "bool"])
def test_folded_constants_keep_the_dtype(dtype):
    b = GraphBuilder()
    x = b.input("x", (2,), dtype)
    c = b.emit1("Identity", [b.const(np.array([1, 0], dtype=dtype))])
    g = b.build([b.emit1("Equal", [x, c])]).verify()
    out = fold_constants(g).verify()
    assert ops(out) == ["Equal"]
    assert out.nodes[0].inputs[1].dtype == dtype
    assert_equivalent(g, out)


def test_shape_and_size_fold_without_data():
    b = GraphBuilder()
    x = b.input("x", (2, 5, 7), "float32")
    shape = b.emit1("Shape", [b.emit1("Relu", [x])], {"start": 1, "end": 3})
    size = b.emit1("Size", [x])
    g = b.build([shape, size]).verify()
    out = fold_constants(g).verify()
    assert ops(out) == ["Relu"]  # now dead, for eliminate_dead_code
    np.testing.assert_array_equal(out.outputs[0].data, [5, 7])
    assert out.outputs[1].data == 70 and out.outputs[1].dtype == "int64"


def test_fold_shapes_folds_shape_and_size_only():
    b = GraphBuilder()
    x = b.input("x", (2, 5, 7), "float32")
    shape = b.emit1("Shape", [x], {"start": 1, "end": 3})
    size = b.emit1("Size", [b.emit1("Relu", [x])])
    kept = b.emit1("Add", [b.const(np.float32(1)), b.const(np.float32(2))])  # constant too
    g = b.build([b.emit1("Add", [shape, shape]), size, kept]).verify()
    out = fold_shapes(g).verify()
    assert ops(out) == ["Relu", "Add", "Add"]
    np.testing.assert_array_equal(out.nodes[2].inputs[0].data, [5, 7])
    assert out.outputs[1].data == 70
    assert_equivalent(g, out)


def _one_op(op: str, inputs, attrs) -> Graph:
    b = GraphBuilder()
    x = b.input("x", (1,), "float32")
    y = b.emit1(op, [b.const(a) for a in inputs], attrs)
    return b.build([y, b.emit1("Relu", [x])]).verify()


BIG = 2 * MAX_GROWTH_ELEMENTS


@pytest.mark.parametrize("op, inputs, attrs, folds", [
    ("Expand", [np.ones((1, 4), np.float32)], {"shape": (8, 4)}, True),
    ("Expand", [np.ones((1, 4), np.float32)], {"shape": (BIG // 4, 4)}, False),
    ("Tile", [np.ones(4, np.float32)], {"repeats": (BIG // 4,)}, False),
    ("ConstantOfShape", [], {"shape": (BIG,), "value": 1.0, "dtype": "float32"}, False),
    ("ConstantOfShape", [], {"shape": (3,), "value": 1.0, "dtype": "float32"}, True),
    ("Range", [], {"start": 0, "limit": BIG, "delta": 1, "dtype": "int64"}, False),
    ("Range", [], {"start": 0, "limit": 10, "delta": 3, "dtype": "int64"}, True),
    # as many elements out as in: folds however large (a weight's Transpose)
    ("Transpose", [np.ones((BIG // 2, 2), np.float32)], {"perm": (1, 0)}, True),
])
def test_size_rule(op, inputs, attrs, folds):
    g = _one_op(op, inputs, attrs)
    out = fold_constants(g).verify()
    assert (op not in ops(out)) == folds
    if folds:
        assert_equivalent(g, out)


def test_a_failing_reference_keeps_the_node_with_a_warning(caplog):
    b = GraphBuilder()
    bad = b.emit1("Gather", [b.const(np.ones(3, np.float32)), b.const(np.int64(7))], {"axis": 0})
    g = b.build([bad]).verify()
    with caplog.at_level(logging.WARNING, logger="tensorforge.passes"):
        out = fold_constants(g).verify()
    assert ops(out) == ["Gather"]
    assert "not folding Gather" in caplog.text


def _with_constant_input(g: Graph) -> Graph:
    """`g` with its second input replaced by a constant, so whatever reads only it folds."""
    x, y = g.inputs
    data = random_feeds(g, seed=1)[y.name]
    data.setflags(write=False)
    const = type(y)(y.name, y.shape, y.dtype, data)
    nodes = tuple(type(n)(n.op, tuple(const if v is y else v for v in n.inputs), n.outputs,
                          n.attrs, n.name) for n in g.nodes)
    return Graph((x,), tuple(const if v is y else v for v in g.outputs), nodes, g.name).verify()


@given(square_graphs())
def test_nothing_foldable_is_left_and_results_agree(g):
    g = _with_constant_input(g)
    out = fold_constants(g).verify()
    assert not [n.op for n in out.nodes if all(v.is_const for v in n.inputs)]
    assert_equivalent(g, out)
