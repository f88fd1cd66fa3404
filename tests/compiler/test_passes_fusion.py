"""fuse_operators: kernel groups by post-dominator fusion, each a `Fused` node."""

import numpy as np
import pytest
from hypothesis import given

from tensorforge.compiler import Graph, GraphBuilder, ShapeError
from tensorforge.compiler.ops import Pattern, get_op, infer_types
from tensorforge.compiler.passes import fuse_operators

from passes_testing import assert_equivalent, ops, square_graphs

RNG = np.random.default_rng(0)


def weights(b, *shape):
    return b.const(RNG.standard_normal(shape).astype("float32"), "w")


def conv(b, x, cout, kernel=1):
    w = weights(b, cout, x.shape[1], kernel, kernel)
    return b.emit1("Conv", [x, w], {"strides": (1, 1), "pads": (0,) * 4, "dilations": (1, 1),
                                    "group": 1})


def groups(g: Graph) -> list[list[str]]:
    """Each top-level node as the list of ops it computes."""
    return [[m.op for m in n.attrs["body"].nodes] if n.op == "Fused" else [n.op]
            for n in g.nodes]


def fused(g: Graph) -> Graph:
    out = fuse_operators(g.verify()).verify()
    assert_equivalent(g, out)
    return out


def test_conv_bias_relu_is_one_kernel_printed_with_its_body():
    b = GraphBuilder("g")
    x = b.input("x", (1, 2, 3, 3), "float32")
    y = b.emit1("Add", [conv(b, x, 4), b.const(np.ones((1, 4, 1, 1), np.float32), "bias")])
    g = b.build([b.emit1("Relu", [y], out_name="y")])
    out = fused(g)
    assert ops(out) == ["Fused"]
    node = out.nodes[0]
    assert node.attrs["anchor"] == "Conv" and node.attrs["pattern"] == "OUT_ELEMWISE_FUSABLE"
    assert node.inputs == (x,) and node.outputs == g.outputs
    text = str(out)
    assert "%y: float32[1, 4, 3, 3] = Fused(%x; anchor='Conv', body=<graph 3 nodes>" in text
    assert "    |   %y: float32[1, 4, 3, 3] = Relu(%add_out0)" in text


def test_residual_block_keeps_one_anchor_per_group():
    b = GraphBuilder()
    x = b.input("x", (1, 4, 3, 3), "float32")
    h = b.emit1("Relu", [conv(b, x, 4)])
    main, skip = conv(b, h, 4), conv(b, x, 4)
    g = b.build([b.emit1("Relu", [b.emit1("Add", [main, skip])])])
    out = fused(g)
    assert sorted(groups(out)) == sorted([["Conv", "Relu"], ["Conv", "Add", "Relu"], ["Conv"]])


def test_elementwise_fuses_into_a_following_reduction_but_not_after_it():
    b = GraphBuilder()
    x = b.input("x", (3, 3), "float32")
    s = b.emit1("Softmax", [b.emit1("Exp", [b.emit1("Neg", [x])])], {"axis": 1})
    g = b.build([b.emit1("Relu", [s])])
    out = fused(g)
    assert groups(out) == [["Neg", "Exp", "Softmax"], ["Relu"]]
    assert out.nodes[0].attrs["pattern"] == "REDUCTION"


def test_injective_chain_fuses_into_the_following_matmul():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4), "float32")
    t = b.emit1("Transpose", [b.emit1("Reshape", [x], {"shape": (6, 4)})], {"perm": (1, 0)})
    y = b.emit1("Relu", [b.emit1("MatMul", [t, weights(b, 6, 5)])])
    out = fused(b.build([y]))
    assert groups(out) == [["Reshape", "Transpose", "MatMul", "Relu"]]
    assert out.nodes[0].attrs["anchor"] == "MatMul"


def test_gelu_chain_fuses_into_the_matmul_epilogue():
    b = GraphBuilder()
    x = b.input("x", (4, 8), "float32")
    h = b.emit1("Add", [b.emit1("MatMul", [x, weights(b, 8, 16)]), weights(b, 16)])
    root2, one, half = (b.const(np.float32(v)) for v in (np.sqrt(2), 1, 0.5))
    erf = b.emit1("Erf", [b.emit1("Div", [h, root2])])
    gelu = b.emit1("Mul", [b.emit1("Mul", [h, b.emit1("Add", [erf, one])]), half])
    out = fused(b.build([b.emit1("MatMul", [gelu, weights(b, 16, 8)])]))
    assert groups(out) == [["MatMul", "Add", "Div", "Erf", "Add", "Mul", "Mul"], ["MatMul"]]


def test_a_second_anchor_never_joins():
    b = GraphBuilder()
    x = b.input("x", (1, 2, 3, 3), "float32")
    y = b.emit1("Relu", [conv(b, b.emit1("Relu", [conv(b, x, 2)]), 2)])
    s = b.emit1("Softmax", [b.emit1("ReduceSum", [y], {"axes": (2, 3), "keepdims": 1})],
                {"axis": 1})
    out = fused(b.build([s]))
    assert groups(out) == [["Conv", "Relu"], ["Conv", "Relu"], ["ReduceSum"], ["Softmax"]]


def test_nothing_fuses_across_an_opaque_op():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    shape = b.emit1("Shape", [b.emit1("Relu", [x])], {"start": 0, "end": 2})
    y = b.emit1("Neg", [b.emit1("Cast", [shape], {"to": "float32"})])
    out = fused(b.build([y]))
    assert groups(out) == [["Relu"], ["Shape"], ["Cast", "Neg"]]


def test_values_used_outside_a_group_are_its_outputs():
    b = GraphBuilder()
    x = b.input("x", (4, 3), "float32")
    neg = b.emit1("Neg", [b.emit1("Relu", [x])], out_name="neg")
    top, bottom = b.emit("Split", [b.emit1("Exp", [neg])], {"axis": 0, "split": (2, 2)})
    g = b.build([neg, b.emit1("Softmax", [top], {"axis": 0}), b.emit1("Sqrt", [bottom])])
    out = fused(g)
    first, second = out.nodes[:2]
    assert groups(out)[:2] == [["Relu", "Neg"], ["Exp", "Split"]]
    assert [v.name for v in first.outputs] == ["neg"]
    assert second.outputs == (top, bottom) and second.inputs == (neg,)


def test_fusing_twice_changes_nothing():
    b = GraphBuilder()
    x = b.input("x", (1, 2, 3, 3), "float32")
    g = fuse_operators(b.build([b.emit1("Relu", [conv(b, x, 2)])]).verify())
    assert groups(fuse_operators(g)) == groups(g)


def test_fused_op_checks_its_inputs():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    node = fuse_operators(b.build([b.emit1("Neg", [b.emit1("Relu", [x])])])).nodes[0]
    assert get_op("Fused").pattern == Pattern.OPAQUE
    with pytest.raises(ShapeError, match=r"fused body takes \(float32\[2, 3\]\), given "
                                         r"\(float32\[3, 2\]\)"):
        infer_types("Fused", [b.input("z", (3, 2), "float32")], node.attrs)


@given(square_graphs(max_nodes=14))
def test_random_graphs_partition_into_valid_groups(g):
    out = fused(g)
    inner = [n for n in out.walk() if n.op != "Fused"]
    assert sorted(map(id, inner)) == sorted(map(id, g.nodes))  # each node in one group
    for n in out.nodes:
        if n.op == "Fused":
            body = n.attrs["body"].verify()
            assert len(body.nodes) >= 2
            assert not any(m.op == "Fused" for m in body.nodes)
            anchors = [m for m in body.nodes if get_op(m.op).pattern >= Pattern.REDUCTION]
            assert len(anchors) <= 1
            assert all(not v.is_const for v in body.inputs)
