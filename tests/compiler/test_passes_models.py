"""optimize() on the real models: same results as ONNX Runtime's references, and the IR
features the passes must remove are gone (inside fused bodies too)."""

import numpy as np
import pytest

from tensorforge.compiler import evaluate, from_onnx, optimize
from tensorforge.compiler.ops import Pattern, get_op

from oracle import MODEL_TOLERANCE
from conftest import MODELS

SLOW = {"resnet18"}


def load(name):
    ref = np.load(MODELS / f"{name}.npz")
    feeds = {k: ref[k] for k in ref.files if not k.startswith("output_")}
    outputs = [ref[f"output_{i}"] for i in range(len(ref.files) - len(feeds))]
    return from_onnx(MODELS / f"{name}.onnx"), feeds, outputs


@pytest.fixture(scope="module")
def optimized():
    cache = {}

    def get(name):
        if name not in cache:
            graph, feeds, outputs = load(name)
            cache[name] = graph, optimize(graph), feeds, outputs
        return cache[name]

    return get


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else [])
    for n in ["convbnrelu", "mlp", "resnet18", "mobilenetv2", "bert_mini"]])
def test_optimized_model_matches_the_reference(name, optimized):
    graph, opt, feeds, outputs = optimized(name)
    got = evaluate(opt, feeds)
    assert list(got) == [v.name for v in graph.outputs]
    rtol, atol = MODEL_TOLERANCE
    for arr, want in zip(got.values(), outputs):
        np.testing.assert_allclose(arr, want, rtol=rtol, atol=atol)
    for n in opt.walk():  # each group holds at most one anchor
        if n.op == "Fused":
            assert sum(get_op(m.op).pattern >= Pattern.REDUCTION
                       for m in n.attrs["body"].nodes) <= 1


@pytest.mark.slow
def test_resnet18_has_no_batchnorm_identity_or_shape_left(optimized):
    _, opt, _, _ = optimized("resnet18")
    hist = opt.op_histogram()
    assert not {"BatchNormalization", "Identity", "Dropout", "Shape"} & set(hist)
    assert hist["Conv"] == 20 and hist["Fused"] >= 17
    assert {"Conv", "Add", "Relu"} <= {m.op for n in opt.nodes if n.op == "Fused"
                                       for m in n.attrs["body"].nodes}


def test_mobilenetv2_has_no_batchnorm_and_clips_fuse_into_convs(optimized):
    _, opt, _, _ = optimized("mobilenetv2")
    hist = opt.op_histogram(nested=False)
    assert "BatchNormalization" not in opt.op_histogram()
    assert "Clip" not in hist  # every ReLU6 is a conv epilogue


def test_convbnrelu_is_one_kernel(optimized):
    _, opt, _, _ = optimized("convbnrelu")
    assert [n.op for n in opt.nodes] == ["Fused"]
    assert [m.op for m in opt.nodes[0].attrs["body"].nodes] == ["Conv", "Relu"]


def test_bert_mini_has_no_shape_computation_left(optimized):
    _, opt, _, _ = optimized("bert_mini")
    nodes = list(opt.walk())
    assert not {"Shape", "Size", "ConstantOfShape", "Range", "Concat"} & {n.op for n in nodes}
    gathers = [n for n in nodes if n.op == "Gather"]
    assert gathers and all(n.inputs[0].dtype == "float32" for n in gathers)  # embeddings only
    assert sum(n.op == "Softmax" for n in nodes) == 4  # nothing lost or duplicated
