"""ONNX importer: model sources, input specialization, and the errors a user can cause."""

import numpy as np
import onnx
import pytest
from onnx import helper

from oracle import make_model, tensor_info
from tensorforge.compiler import (InputError, ModelError, UnsupportedModelError, evaluate,
                                  from_onnx)


def relu_model(shape=(2, 3), opset=17):
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    graph = helper.make_graph([node], "g", [tensor_info("x", shape, np.float32)],
                              [tensor_info("y", shape, np.float32)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("source", ["proto", "bytes", "path", "str"])
def test_accepts_proto_bytes_and_paths(source, tmp_path):
    model = relu_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    arg = {"proto": model, "bytes": model.SerializeToString(), "path": path,
           "str": str(path)}[source]
    graph = from_onnx(arg)
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(evaluate(graph, {"x": x})["y"], np.maximum(x, 0))


def test_missing_file_and_truncated_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        from_onnx(tmp_path / "nope.onnx")
    path = tmp_path / "cut.onnx"
    path.write_bytes(relu_model().SerializeToString()[:-7])
    with pytest.raises(ModelError):
        from_onnx(path)
    with pytest.raises(ModelError, match="expected a path"):
        from_onnx(42)


def test_malformed_model_gets_checker_message():
    model = relu_model()
    model.graph.node[0].input[0] = "undefined_tensor"
    with pytest.raises(ModelError, match="onnx.checker.*undefined_tensor"):
        from_onnx(model)


def test_every_unsupported_op_listed_once():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("NonMaxSuppression", ["a", "a"], ["b"], name="nms"),
             helper.make_node("Relu", ["b"], ["c"], name="ok2"),
             helper.make_node("FancyOp", ["c"], ["y"], name="fancy", domain="com.example")]
    graph = helper.make_graph(nodes, "g", [tensor_info("x", (2, 3), np.float32)],
                              [tensor_info("y", (2, 3), np.float32)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedModelError) as err:
        from_onnx(model)
    msg = str(err.value)
    assert "2 unsupported" in msg
    assert "NonMaxSuppression (opset 17) at node 'nms'" in msg
    assert "com.example::FancyOp" in msg and "'fancy'" in msg
    assert len(err.value.unsupported) == 2


def test_opset_out_of_range_is_refused():
    model = relu_model(opset=8)
    with pytest.raises(UnsupportedModelError, match="opset 8 is outside the supported range"):
        from_onnx(model)


def test_dynamic_dims_need_concrete_shapes():
    model = relu_model(shape=("batch", 3))
    with pytest.raises(InputError, match=r"input 'x' has dynamic dimension.*'batch'.*inputs="):
        from_onnx(model)
    graph = from_onnx(model, inputs={"x": (8, 3)})
    assert graph.inputs[0].shape == (8, 3)
    assert graph.outputs[0].shape == (8, 3)


def test_given_shapes_must_agree_with_the_model():
    model = relu_model(shape=("batch", 3))
    with pytest.raises(InputError, match=r"declares shape \['batch', 3\], given \[8, 4\]"):
        from_onnx(model, inputs={"x": (8, 4)})
    with pytest.raises(InputError, match="not model inputs"):
        from_onnx(model, inputs={"nope": (1,)})


def test_output_that_is_an_input_or_constant_keeps_its_name():
    graph = helper.make_graph([], "g", [tensor_info("x", (2,), np.float32)],
                              [tensor_info("x", (2,), np.float32),
                               tensor_info("w", (2,), np.float32)],
                              [onnx.numpy_helper.from_array(np.ones(2, np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = from_onnx(model)
    out = evaluate(g, {"x": np.array([1, 2], np.float32)})
    assert list(out) == ["x", "w"]
    np.testing.assert_array_equal(out["w"], [1, 1])


def test_feeds_are_checked_by_name_shape_and_dtype():
    graph = from_onnx(relu_model())
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(InputError, match="missing.*'x'"):
        evaluate(graph, {})
    with pytest.raises(InputError, match=r"expected shape \[2, 3\], given \[3, 2\]"):
        evaluate(graph, {"x": x.T})
    with pytest.raises(InputError, match="expected dtype float32, given float64"):
        evaluate(graph, {"x": x.astype(np.float64)})
