"""Every shared real-architecture model loads, optimizes, and the reference executor matches
its ONNX Runtime reference output (rtol 1e-3, atol 1e-4)."""

import numpy as np
import pytest

from conftest import MODELS
from oracle import MODEL_TOLERANCE
from tensorforge.compiler import evaluate, from_onnx, optimize

NAMES = ["mlp", "convbnrelu", "resnet18", "mobilenetv2", "bert_mini"]
pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}")


def load(name):
    ref = np.load(MODELS / f"{name}.npz")
    feeds = {k: ref[k] for k in ref.files if not k.startswith("output_")}
    outs = [ref[f"output_{i}"] for i in range(len(ref.files) - len(feeds))]
    return from_onnx(MODELS / f"{name}.onnx"), feeds, outs


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    graph, feeds, outs = load(request.param)
    return request.param, graph, optimize(graph), feeds, outs


def test_reference_matches_onnxruntime(model):
    name, graph, opt, feeds, outs = model
    for g in (graph, opt):
        got = evaluate(g, feeds)
        assert len(got) == len(outs)
        for arr, want in zip(got.values(), outs):
            np.testing.assert_allclose(arr, want, *MODEL_TOLERANCE, err_msg=name)


def test_optimize_leaves_no_removable_nodes(model):
    name, graph, opt, feeds, outs = model
    left = {n.op for n in opt.walk()} & {"BatchNormalization", "Identity", "Dropout", "Shape",
                                         "Size", "ConstantOfShape", "Range"}
    assert not left, f"{name}: {left} survived optimize()"
    assert len(opt.nodes) < len(graph.nodes), f"{name}: fusion formed no multi-node kernel"


def test_nothing_constant_is_left_to_compute(model):
    name, graph, opt, feeds, outs = model
    foldable = [str(n) for n in opt.walk() if n.inputs and all(v.is_const for v in n.inputs)]
    assert not foldable, f"{name}: constant folding missed {foldable[:3]}"


def test_bert_has_no_shape_computation_left():
    graph, _, _ = load("bert_mini")
    ops = optimize(graph).op_histogram()
    assert not set(ops) & {"Shape", "Size", "ConstantOfShape", "Range", "Concat", "Expand"}, ops
    assert ops.get("Gather") == 1  # the word-embedding lookup; position/type lookups folded
