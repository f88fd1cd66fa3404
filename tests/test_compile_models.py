"""Every shared model compiles for the host and matches its ONNX Runtime reference
(rtol 1e-3, atol 1e-4); a save/load round trip gives identical outputs."""

from concurrent.futures import ThreadPoolExecutor

import llvmlite.binding as llvm
import numpy as np
import pytest

import tensorforge
from tensorforge.codegen import TargetError
from conftest import MODELS
from oracle import MODEL_TOLERANCE

NAMES = ["mlp", "convbnrelu", "resnet18", "mobilenetv2", "bert_mini"]
pytestmark = [pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}"),
              pytest.mark.slow]


def reference(name):
    ref = np.load(MODELS / f"{name}.npz")
    feeds = {k: ref[k] for k in ref.files if not k.startswith("output_")}
    return feeds, [ref[f"output_{i}"] for i in range(len(ref.files) - len(feeds))]


@pytest.fixture(scope="module", params=NAMES)
def compiled(request):
    name = request.param
    return name, tensorforge.compile(MODELS / f"{name}.onnx", target="llvm")


def test_model_matches_reference(compiled):
    name, mod = compiled
    feeds, want = reference(name)
    got = mod.run(**feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, name
        np.testing.assert_allclose(g, w, *MODEL_TOLERANCE, err_msg=name)
    plan = mod.memory_plan
    assert plan.lower_bound_bytes <= plan.arena_bytes


def test_save_load_gives_identical_outputs(compiled, tmp_path):
    name, mod = compiled
    feeds, _ = reference(name)
    mod.save(tmp_path / f"{name}.tfm")
    back = tensorforge.load(tmp_path / f"{name}.tfm")
    for a, b in zip(mod.run(**feeds), back.run(**feeds)):
        np.testing.assert_array_equal(a, b)


def test_avx512_target_compiles_anywhere_and_runs_where_supported():
    feeds, want = reference("mlp")
    mod = tensorforge.compile(MODELS / "mlp.onnx", target="llvm -mcpu=avx512")
    assert "zmm" in mod.source("asm")
    if not llvm.get_host_cpu_features().get("avx512f"):
        pytest.skip("host lacks avx512f: compiled, not run")
    np.testing.assert_allclose(mod.run(**feeds)[0], want[0], *MODEL_TOLERANCE)


def test_target_the_host_lacks_is_refused_before_running():
    feeds, _ = reference("mlp")
    mod = tensorforge.compile(MODELS / "mlp.onnx", target="llvm -mattr=+amx-tile")
    with pytest.raises(TargetError, match="amx-tile"):
        mod.run(**feeds)


def test_four_threads_at_once():
    feeds, want = reference("mlp")
    mod = tensorforge.compile(MODELS / "mlp.onnx")
    (x,) = feeds.values()
    xs = [x * s for s in (1.0, -1.0, 0.5, 2.0)]
    wants = [mod.run(xi)[0] for xi in xs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            for got, w in zip(pool.map(lambda xi: mod.run(xi)[0], xs), wants):
                np.testing.assert_array_equal(got, w)
