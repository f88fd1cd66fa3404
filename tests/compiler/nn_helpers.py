"""Helpers shared by the neural-network op tests (test_ops_nn, test_ops_resize)."""

import numpy as np
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from oracle import tensor_info
from tensorforge.compiler import from_onnx


def randn(draw, shape, dtype=np.float32):
    """Standard normal data from a hypothesis-drawn seed."""
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def convert(op, inputs, initializers=None, n_outputs=1, opset=17, **attrs):
    """Import a one-node model without running ONNX shape inference, which would reject the
    bad attributes these tests feed on purpose."""
    inits = initializers or {}
    node = helper.make_node(op, [*inputs, *inits], [f"y{i}" for i in range(n_outputs)], **attrs)
    graph = helper.make_graph(
        [node], "g", [tensor_info(k, a.shape, a.dtype) for k, a in inputs.items()],
        [tensor_info(f"y{i}", (), np.float32) for i in range(n_outputs)],
        [numpy_helper.from_array(a, k) for k, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return from_onnx(model)
