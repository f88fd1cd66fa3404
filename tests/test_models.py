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
    assert sum(1 for _ in opt.walk()) < sum(1 for _ in graph.walk()) or name == "mlp"


def test_bert_has_no_shape_computation_left():
    graph, _, _ = load("bert_mini")
    opt = optimize(graph)
    int_nodes = [n for n in opt.walk() if n.op != "Fused"
                 and all(o.dtype == "int64" for o in n.outputs) and n.op != "Cast"]
    # Only the embedding lookups' index math may stay integer; no shape arithmetic.
    assert all(n.op in {"Gather", "Add", "Sub", "Mul"} for n in int_nodes), \
        [n.op for n in int_nodes]
