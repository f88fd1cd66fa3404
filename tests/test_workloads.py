"""The built-in workloads: valid ONNX, run on ONNX Runtime with finite non-degenerate outputs,
deterministic per seed, canonical parameter counts, and the reference executor agrees with ORT."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import numpy_helper

from oracle import MODEL_TOLERANCE
from tensorforge import workloads
from tensorforge.compiler import InputError, evaluate, from_onnx, optimize

# torchvision / BERT-mini parameter counts (BN running statistics are buffers, not parameters)
CANONICAL_PARAMETERS = {"mlp": 669_706, "resnet18": 11_689_512, "resnet50": 25_557_032,
                        "mobilenetv2": 3_504_872, "bert": 5_339_136}
CNNS = ["resnet18", "resnet50", "mobilenetv2"]


def ort_run(model, feeds, all_outputs=False):
    """ORT outputs by name; `all_outputs` exposes every intermediate float tensor too."""
    if all_outputs:
        model = onnx.shape_inference.infer_shapes(model)
        known = {o.name for o in model.graph.output}
        model.graph.output.extend(v for v in model.graph.value_info if v.name not in known)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def parameters(model):
    """Elements of the learnable weights: float, not scalar, not BN running statistics."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer
               if t.data_type == onnx.TensorProto.FLOAT and t.dims
               and not t.name.endswith(("running_mean", "running_var")))


@pytest.fixture(scope="module", params=workloads.NAMES)
def workload(request):
    model, feeds = workloads.get(request.param)
    return request.param, model, feeds, ort_run(model, feeds)


def test_workload_is_valid_onnx(workload):
    name, model, feeds, _ = workload
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    assert {i.name for i in model.graph.input} == set(feeds), name


def test_onnxruntime_output_is_finite_and_not_degenerate(workload):
    name, _, _, outs = workload
    for out in outs.values():
        assert out.dtype == np.float32
        assert np.isfinite(out).all(), name
        assert out.std() > 1e-3, f"{name}: output is (nearly) constant"


def test_reference_executor_matches_onnxruntime(workload):
    name, model, feeds, outs = workload
    got = evaluate(optimize(from_onnx(model)), feeds)
    for arr, want in zip(got.values(), outs.values()):
        np.testing.assert_allclose(arr, want, *MODEL_TOLERANCE, err_msg=name)


@pytest.mark.parametrize("name", CNNS)
def test_cnn_activations_stay_of_order_one(name):
    model, feeds = workloads.get(name)
    stds = {k: float(v.std()) for k, v in ort_run(model, feeds, all_outputs=True).items()
            if v.dtype == np.float32 and v.size > 1}
    bad = {k: s for k, s in stds.items() if not 0.05 < s < 5}
    assert not bad, f"{name}: activation stds out of (0.05, 5): {bad}"


@pytest.mark.parametrize("name", sorted(CANONICAL_PARAMETERS))
def test_parameter_count_is_canonical(name):
    want = CANONICAL_PARAMETERS[name]
    got = parameters(workloads.get(name)[0])
    assert abs(got - want) <= 0.01 * want, f"{name}: {got} parameters, canonical {want}"


def test_same_seed_gives_identical_bytes_and_feeds():
    for name in workloads.NAMES:
        (m1, f1), (m2, f2) = workloads.get(name, seed=3), workloads.get(name, seed=3)
        assert m1.SerializeToString() == m2.SerializeToString(), name
        assert all(np.array_equal(f1[k], f2[k]) for k in f1), name


def test_other_seed_gives_other_weights():
    a, b = (workloads.get("convbnrelu", seed=s)[0] for s in (0, 1))
    wa, wb = (numpy_helper.to_array(m.graph.initializer[0]) for m in (a, b))
    assert wa.shape == wb.shape and not np.array_equal(wa, wb)


@given(name=st.sampled_from(["mlp", "convbnrelu", "gemm256"]), batch=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_batch_and_seed(name, batch, seed):
    model, feeds = workloads.get(name, batch=batch, seed=seed)
    out, = ort_run(model, feeds).values()
    assert out.shape[0] == batch * (256 if name == "gemm256" else 1)
    assert np.isfinite(out).all() and out.std() > 0


@given(batch=st.integers(1, 2), seq_len=st.integers(1, 24), heads=st.sampled_from([1, 2, 4]))
def test_bert_shapes_match_reference(batch, seq_len, heads):
    model = workloads.bert(batch=batch, seq_len=seq_len, layers=1, hidden=16, heads=heads, ffn=24)
    feeds = workloads.feeds(model, seed=seq_len)
    onnx.checker.check_model(model, full_check=True)
    want, = ort_run(model, feeds).values()
    assert want.shape == (batch, seq_len, 16)
    got, = evaluate(optimize(from_onnx(model)), feeds).values()
    np.testing.assert_allclose(got, want, *MODEL_TOLERANCE)


def test_bert_padding_is_masked():
    """Tokens under attention_mask 0 do not change the outputs at attended positions."""
    model, feeds = workloads.get("bert", batch=2)
    mask = feeds["attention_mask"].astype(bool)
    assert not mask.all(), "feeds should pad some positions"
    other = dict(feeds, input_ids=np.where(mask, feeds["input_ids"], 7))
    a, b = ort_run(model, feeds)["last_hidden_state"], ort_run(model, other)["last_hidden_state"]
    np.testing.assert_allclose(a[mask], b[mask], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[~mask], b[~mask])


def test_unknown_workload_and_bad_batch_are_input_errors():
    with pytest.raises(InputError, match="unknown workload 'vgg'.*resnet18"):
        workloads.get("vgg")
    with pytest.raises(InputError, match="batch"):
        workloads.get("mlp", batch=0)
