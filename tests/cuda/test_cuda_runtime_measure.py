"""The CUDA measurer (tuner/cuda_measure.py) with the emulated device in its worker processes:
correct kernels get costs, wrong ones an error record; model tasks take their default
config's device output as the reference; `tensorforge tune --target cuda` reaches it and,
without a GPU, says what is missing."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import MODELS
from emulated_device import EmulatedDevice
from emulator import EMULATOR_AVAILABLE
from test_cuda_source import add, gpu_available, tiled_gemm
from tensorforge.codegen import TargetError
from tensorforge.cli import app
from tensorforge.compiler.tir import Buffer, For, IfThenElse, PrimFunc, Seq, Var
from tensorforge.tuner import ConfigSpace, TirTask, extract_tasks
from tensorforge.tuner.cuda_measure import CudaMeasurer, DeviceRun, time_rounds
from tensorforge.tuner.measure import _Settings
from tensorforge.tuner.node_task import Scratch

needs_emulator = pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")


def gemm_config(M: int, N: int, K: int, config):
    """The shared-tile GEMM with tile depth bk from the config; bk = 0 builds a kernel that
    computes the wrong thing (K // 2 of the reduction)."""
    return tiled_gemm(M, N, K // 2 if config["bk"] == 0 else K, bk=8)


def gemm_task(M=40, N=24, K=16) -> TirTask:
    return TirTask(f"gemm{M}x{N}x{K}", "cuda -arch=sm_90", "hand",
                   ConfigSpace({"bk": [8, 0]}), functools.partial(gemm_config, M, N, K),
                   np.matmul, 2.0 * M * N * K)


def test_records_are_keyed_by_the_device_architecture():
    measure = CudaMeasurer(device_factory=lambda: EmulatedDevice("sm_86"), threads=2)
    assert measure.target == "cuda -arch=sm_86" and measure.threads is None


def test_an_asked_architecture_is_kept_and_a_newer_one_refused():
    """Records land under the target compile will look them up with."""
    sm86 = lambda: EmulatedDevice("sm_86")  # noqa: E731
    assert CudaMeasurer(device_factory=sm86, target="cuda -arch=sm_80").target \
        == "cuda -arch=sm_80"
    with pytest.raises(TargetError, match="sm_90"):
        CudaMeasurer(device_factory=sm86, target="cuda -arch=sm_90")


@needs_emulator
def test_rounds_grow_until_they_last_min_repeat_ms():
    device = EmulatedDevice()
    a = np.ones(1000, np.float32)
    run = DeviceRun(device, add(1000), [a, a, np.zeros_like(a)], (2,))
    run()  # warm, as in the worker (which checks the outputs first)
    np.testing.assert_array_equal(run.outputs()[0], a + a)
    before = device.launches
    costs = time_rounds(device, run, _Settings(repeat=3, number=1, min_repeat_ms=20,
                                               rtol=0, atol=0))
    assert len(costs) == 3 and all(c > 0 for c in costs)
    per_round = (device.launches - before - 1) // 3
    assert per_round > 1 and per_round * np.median(costs) >= 0.005  # ~20 ms, timing is noisy


def twice_plus(n: int, threads: int = 64) -> PrimFunc:
    """NodeTask's param order (inputs, outputs, workspace): S[i] = 2 A[i]; C[i] = S[i] + B[i]."""
    A, B, C, S = (Buffer(x, "float32", (n,)) for x in "ABCS")
    bx, tx = Var("bx"), Var("tx")
    i = bx * threads + tx
    body = IfThenElse(i < n, Seq((S.store(i, A[i] * 2.0), C.store(i, S[i] + B[i]))))
    return PrimFunc("twice_plus", (A, B, C, S),
                    For(bx, 0, -(-n // threads), "blockIdx.x",
                        For(tx, 0, threads, "threadIdx.x", body)))


@needs_emulator
def test_device_run_of_a_model_artifact_with_constants_and_scratch():
    n = 100
    a, b = np.arange(n, dtype=np.float32), np.full(n, 0.5, np.float32)
    artifact = (twice_plus(n), (a, None, None, Scratch((n,), "float32")))   # NodeTask.build's
    run = DeviceRun(EmulatedDevice(), artifact, [b, np.zeros(n, np.float32)], (1,))
    run()
    np.testing.assert_array_equal(run.outputs()[0], 2 * a + b)


@needs_emulator
def test_measure_tir_task_in_workers():
    measure = CudaMeasurer(timeout=60, repeat=2, device_factory=EmulatedDevice)
    assert measure.target == "cuda -arch=sm_90" and measure.threads is None
    good, wrong = measure(gemm_task(), [{"bk": 8}, {"bk": 0}])
    assert good.error is None and len(good.costs) == 2 and math.isfinite(good.cost)
    assert good.threads is None
    assert "wrong result" in wrong.error


@needs_emulator
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}")
def test_model_task_reference_is_its_default_on_the_device():
    (task,) = extract_tasks(MODELS / "mlp.onnx", "cuda -arch=sm_90", min_space=1)[:1]
    measure = CudaMeasurer(timeout=60, repeat=1, device_factory=EmulatedDevice)
    others = [c for c in task.space if c != task.default]
    big_tiles = max(others, key=lambda c: sum(v for v in c.values() if isinstance(v, int)))
    configs = [task.default, big_tiles]  # big tiles: few blocks, quick to emulate
    for result in measure(task, configs):
        assert result.error is None and math.isfinite(result.cost)


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: tuning for it works")
def test_tune_cli_for_cuda_without_a_gpu_says_what_is_missing():
    result = CliRunner().invoke(app, ["tune", "../shared/models/mlp.onnx", "--target", "cuda",
                                      "--trials", "2"])
    assert result.exit_code == 2
    assert "CuPy" in result.output or "CUDA device" in result.output


@needs_emulator
@pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}")
def test_tuning_records_are_what_compile_for_cuda_reads(tmp_path):
    """tune(target="cuda") keys records by the measuring device's architecture, which is the
    target compile(target="cuda") resolves on that device."""
    import tensorforge
    from tensorforge.api import load_best_configs
    from tensorforge.tuner import tune

    model, db = MODELS / "mlp.onnx", tmp_path / "cuda.db"
    (task,) = extract_tasks(model, "cuda -arch=sm_90")[:1]
    measure = CudaMeasurer(timeout=60, repeat=1, device_factory=EmulatedDevice)
    summary = tune(model, "cuda", db, trials=1, measure_fn=measure, tasks=[task],
                   progress=False)
    assert summary.target == "cuda -arch=sm_90" and summary.tasks[0].measured == 1
    module = tensorforge.compile(model, target="cuda", tuning_db=db, device=EmulatedDevice())
    assert task.workload in load_best_configs(db, module.target)
