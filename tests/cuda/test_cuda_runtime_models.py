"""`tensorforge.compile(model, target="cuda")` end to end: the GPU lowering, CUDA codegen and
GPU runtime, run by the emulated device (small models, so CI stays fast) and, with CuPy and
a GPU, by the device for every shared model; against the models' ONNX Runtime references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tensorforge
from conftest import MODELS
from emulated_device import EmulatedDevice
from emulator import EMULATOR_AVAILABLE
from oracle import MODEL_TOLERANCE
from test_cuda_source import gpu_available
from test_models import NAMES, load

pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}")


def check_model(name: str, device=None):
    _, feeds, outs = load(name)
    module = tensorforge.compile(MODELS / f"{name}.onnx", target="cuda", device=device)
    got = module.run(**feeds)
    assert len(got) == len(outs)
    for arr, want in zip(got, outs):
        np.testing.assert_allclose(arr, want, *MODEL_TOLERANCE, err_msg=name)
    return module


@pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")
@pytest.mark.parametrize("name", ["mlp", "convbnrelu"])
def test_model_on_the_emulated_device(name):
    module = check_model(name, EmulatedDevice())
    assert str(module.target) == "cuda -arch=sm_90"


@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_model_on_the_gpu(name):
    module = check_model(name)
    module.use_graph()
    _, feeds, outs = load(name)
    for arr, want in zip(module.run(**feeds), outs):
        np.testing.assert_allclose(arr, want, *MODEL_TOLERANCE, err_msg=f"{name} (graph)")


@pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")
def test_bench_gemm_model_on_the_emulated_device(capsys, monkeypatch):
    """bench/bench_cuda.py's GEMM model is what it claims; without a GPU the bench exits 0
    saying what is missing."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_cuda
    module = tensorforge.compile(bench_cuda.gemm_model(48), target="cuda",
                                 device=EmulatedDevice())
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((48, 48), dtype=np.float32) for _ in range(2))
    np.testing.assert_allclose(module.run(a, b)[0], a @ b, rtol=1e-4, atol=1e-4)
    if not gpu_available():
        assert bench_cuda.main([]) == 0
        assert "nothing to measure" in capsys.readouterr().out
