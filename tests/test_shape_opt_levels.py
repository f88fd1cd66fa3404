"""Shape and Size at every opt_level: a static shape is a constant, so even opt_level 0
(every other op its own kernel) folds them (passes.fold_shapes); they have no kernel. The
exporters' Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain runs against ONNX
Runtime, Shape of a computed value and Shape's start/end included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

import tensorforge
from tensorforge.compiler import model_graph
from oracle import assert_close, make_model, run_ort


def shape_chain_model(x: np.ndarray):
    """r = Relu(x); outputs Shape(r), Size(r), Shape(x)[1:] and x reshaped to
    (x.shape[0], -1) through the shape subgraph."""
    zero = helper.make_tensor("zero", 7, [], [0])
    minus_one = helper.make_tensor("minus_one", 7, [1], [-1])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["shape"]),
        helper.make_node("Size", ["r"], ["size"]),
        helper.make_node("Shape", ["x"], ["tail"], start=1),
        helper.make_node("Constant", [], ["i0"], value=zero),
        helper.make_node("Constant", [], ["m1"], value=minus_one),
        helper.make_node("Gather", ["shape", "i0"], ["d0"], axis=0),
        helper.make_node("Unsqueeze", ["d0", "axes"], ["d0v"]),
        helper.make_node("Concat", ["d0v", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
    ]
    return make_model(nodes, {"x": x}, ["shape", "size", "tail", "flat"],
                      {"axes": np.array([0], np.int64)})


@settings(max_examples=8)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.sampled_from([0, 3]))
def test_shape_chain_matches_onnxruntime(dims, opt_level):
    x = np.random.default_rng(len(dims)).standard_normal(dims).astype(np.float32)
    model = shape_chain_model(x)
    mod = tensorforge.compile(model, opt_level=opt_level)
    for name, got, want in zip(["shape", "size", "tail", "flat"], mod.run(x=x),
                               run_ort(model, {"x": x}), strict=True):
        assert_close(got, want, f"{name} at opt_level {opt_level}")


def test_opt_level_0_folds_shapes_only():
    model = shape_chain_model(np.zeros((2, 3), np.float32))
    ops = [n.op for n in model_graph(model, opt_level=0).nodes]
    assert ops == ["Relu", "Gather", "Reshape", "Concat", "Reshape"]   # the rest unoptimized
