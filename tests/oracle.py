"""Test oracle: build one-node (or small) ONNX models and compare TensorForge against ONNX
Runtime. Tolerances are stated per dtype here and nowhere else."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tensorforge.compiler import evaluate, from_onnx, optimize

# (rtol, atol) per dtype for TensorForge vs ONNX Runtime; integer and bool results are exact.
TOLERANCE = {
    "float16": (1e-2, 1e-3),
    "float32": (1e-4, 1e-5),
    "float64": (1e-9, 1e-12),
}
# The shared models' references were computed by ORT: the issue fixes their tolerance.
MODEL_TOLERANCE = (1e-3, 1e-4)


def tensor_info(name: str, shape: Sequence[int] | None, dtype: Any) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, np.ndarray],
               outputs: Sequence[str], initializers: Mapping[str, np.ndarray] | None = None,
               opset: int = 17) -> onnx.ModelProto:
    """A model over `nodes`; inputs typed from example arrays, outputs left for ONNX to type."""
    graph = helper.make_graph(
        list(nodes), "test",
        [tensor_info(k, a.shape, a.dtype) for k, a in inputs.items()],
        [onnx.ValueInfoProto(name=o) for o in outputs],
        [numpy_helper.from_array(np.asarray(a), k) for k, a in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 9)
    typed = onnx.shape_inference.infer_shapes(model)  # types the outputs; TensorForge infers
    del model.graph.output[:]                          # its own, this only feeds the checker
    model.graph.output.extend(typed.graph.output)
    return model


def single_op_model(op_type: str, inputs: Mapping[str, np.ndarray], n_outputs: int = 1,
                    initializers: Mapping[str, np.ndarray] | None = None, opset: int = 17,
                    input_order: Sequence[str] | None = None, **attrs: Any) -> onnx.ModelProto:
    """One `op_type` node. `input_order` lists the node's inputs ('' for an omitted optional
    one) when it differs from feeds followed by initializers."""
    order = list(input_order) if input_order is not None else [*inputs, *(initializers or {})]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, order, outs, name=f"{op_type.lower()}_node", **attrs)
    return make_model([node], inputs, outs, initializers, opset)


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "output",
                 tol: tuple[float, float] | None = None) -> None:
    want = np.asarray(want)
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != expected {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != expected {want.dtype}"
    if want.dtype.kind == "f":
        rtol, atol = tol or TOLERANCE[str(want.dtype)]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_model(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray],
                tol: tuple[float, float] | None = None, optimized: bool = True) -> list[np.ndarray]:
    """TensorForge's reference executor (before and after optimize) against ONNX Runtime."""
    want = run_ort(model, feeds)
    graph = from_onnx(model)
    inferred = [(v.shape, v.dtype) for v in graph.outputs]
    assert inferred == [(w.shape, str(w.dtype)) for w in want], "inferred output types"
    graphs = [graph, optimize(graph)] if optimized else [graph]
    for g in graphs:
        got = evaluate(g, feeds)
        assert len(got) == len(want)
        for (name, arr), ref in zip(got.items(), want):
            assert_close(arr, ref, f"{name} of {[n.op for n in g.nodes]}", tol)
    return want


def check_onnx_reference(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> None:
    """The reference executor, before and after optimize, against onnx.reference: the oracle
    where ONNX Runtime lacks an op version or departs from the spec."""
    want = ReferenceEvaluator(model).run(None, dict(feeds))
    graph = from_onnx(model)
    for g in (graph, optimize(graph)):
        got = list(evaluate(g, feeds).values())
        for arr, ref in zip(got, want, strict=True):
            assert arr.shape == ref.shape and arr.dtype == ref.dtype
            assert_close(arr, ref, f"output of {[n.op for n in g.nodes]}")


def check_op(op_type: str, inputs: Mapping[str, np.ndarray], n_outputs: int = 1,
             initializers: Mapping[str, np.ndarray] | None = None, opset: int = 17,
             input_order: Sequence[str] | None = None, tol: tuple[float, float] | None = None,
             **attrs: Any) -> list[np.ndarray]:
    """Build a one-node model and check it against ONNX Runtime; returns ORT's outputs."""
    model = single_op_model(op_type, inputs, n_outputs, initializers, opset, input_order,
                            **attrs)
    return check_model(model, {**inputs}, tol)


__all__ = ["TOLERANCE", "MODEL_TOLERANCE", "make_model", "single_op_model", "run_ort",
           "assert_close", "check_model", "check_onnx_reference", "check_op", "TensorProto"]
