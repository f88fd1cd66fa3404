"""The GPU runtime (runtime/cuda_module.py) over the emulated device: the hand-lowered chain
of tests/runtime/lowered_kernels.py with GPU loop IR (shared-tile GEMM, per-thread relu,
per-block row sums, elementwise add) against NumPy; constants uploaded once, one host
synchronisation per run, CUDA graph replay; the CPU Module's input errors. With CuPy and a
GPU the same chain also runs on the device."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import tir_kernels
from emulated_device import EmulatedDevice
from emulator import EMULATOR_AVAILABLE
from lowered_kernels import chain
from test_cuda_source import add, gpu_available, softmax, tiled_gemm
from tensorforge.codegen.cuda import cuda_source, kernel_name, launch_dims
from tensorforge.codegen.target import Target, TargetError
from tensorforge.compiler import tir
from tensorforge.compiler.errors import InputError
from tensorforge.runtime.cuda_module import CudaModule
from tensorforge.runtime.module import Module

needs_emulator = pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")
needs_gpu = pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")

GPU_FUNCS = SimpleNamespace(
    gemm=tiled_gemm, add=add,
    row_sum=lambda rows, cols: tir_kernels.row_sum(rows, cols, outer="blockIdx.x"),
    relu=lambda n: tir_kernels.unary("relu", n, lambda v: tir.max_(v, 0.0), kind="threadIdx.x"))


def gpu_chain(M: int, N: int, K: int, device, target: str = "cuda"):
    inputs, outputs, kernels, ref = chain(M, N, K, funcs=GPU_FUNCS)
    return CudaModule.link(inputs, outputs, kernels, Target(target), device), ref


def check(module, ref, x):
    outs = module.run(x)
    for got, want in zip(outs, ref(x)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    return outs


@needs_emulator
@pytest.mark.parametrize("M, N, K", [(5, 24, 3), (33, 30, 17), (1, 1, 1)])
def test_chain_on_the_emulated_device(M, N, K):
    device = EmulatedDevice()
    module, ref = gpu_chain(M, N, K, device)
    x = np.random.default_rng(1).standard_normal((M, K)).astype(np.float32)
    outs = check(module, ref, x)
    assert [o.dtype for o in outs] == [np.float32] * 3 and isinstance(outs[0], np.ndarray)
    assert device.launches == 4
    assert str(module.target) == "cuda -arch=sm_90"  # the device's architecture
    assert module.source("cuda").count('extern "C" __global__') == 4


@needs_emulator
def test_constants_once_one_synchronisation_per_run():
    """Weights go up when the module is made; a run uploads only its inputs and waits for the
    device once, after the last download."""
    device = EmulatedDevice()
    module, ref = gpu_chain(5, 24, 3, device)
    uploads, syncs = device.uploads, device.synchronizations
    rng = np.random.default_rng(2)
    for _ in range(3):
        check(module, ref, rng.standard_normal((5, 3)).astype(np.float32))
    assert device.uploads - uploads == 3  # x only
    assert device.synchronizations - syncs == 3


@needs_emulator
def test_graph_replay():
    """use_graph(): the first run captures the launches, every run replays them."""
    device = EmulatedDevice()
    module, ref = gpu_chain(5, 24, 3, device)
    module.use_graph()
    rng = np.random.default_rng(3)
    for _ in range(2):
        check(module, ref, rng.standard_normal((5, 3)).astype(np.float32))
    assert device.captures == 1 and device.launches == 8


@needs_emulator
def test_input_errors_are_the_cpu_modules():
    inputs, outputs, kernels, _ = chain(5, 24, 3)
    cpu = Module.link(inputs, outputs, kernels, Target("llvm"))
    gpu, _ = gpu_chain(5, 24, 3, EmulatedDevice())
    good = np.zeros((5, 3), np.float32)
    for args, named in [((), {}), ((good, good), {}), ((np.zeros((5, 4), np.float32),), {}),
                        ((good.astype(np.float64),), {}), ((), {"y": good}), (([1.0],), {}),
                        ((good,), {"x": good})]:
        with pytest.raises(InputError) as want:
            cpu.run(*args, **named)
        with pytest.raises(InputError) as got:
            gpu.run(*args, **named)
        assert str(got.value) == str(want.value)


@needs_emulator
def test_noncontiguous_inputs_are_copied():
    module, ref = gpu_chain(5, 24, 3, EmulatedDevice())
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32).T
    check(module, ref, x)


@needs_emulator
def test_code_for_a_newer_gpu_is_refused():
    with pytest.raises(TargetError, match="needs an sm_100 GPU or newer"):
        gpu_chain(5, 24, 3, EmulatedDevice("sm_90"), "cuda -arch=sm_100")
    module, _ = gpu_chain(5, 24, 3, EmulatedDevice("sm_90"), "cuda -arch=sm_80")
    assert str(module.target) == "cuda -arch=sm_80"


def launch_once(device, func: tir.PrimFunc, *arrays: np.ndarray) -> None:
    """Run `func` once on `device` over NumPy `arrays`: copied in, and back in place."""
    kernel = device.compile(cuda_source(func), kernel_name(func))
    addresses = [device.allocate(a.nbytes) for a in arrays]
    for address, a in zip(addresses, arrays):
        device.upload(address, a)
    device.launch(kernel, *launch_dims(func), device.kernel_args(addresses))
    for address, a in zip(addresses, arrays):
        device.download(address, a)
    device.synchronize()


def _softmax(e):
    return e / e.sum(1, keepdims=True)


def cupy_device():
    from tensorforge.runtime.cuda_device import CupyDevice
    return CupyDevice()


@pytest.mark.parametrize("make_device", [
    pytest.param(EmulatedDevice, marks=needs_emulator, id="emulated"),
    pytest.param(cupy_device, marks=needs_gpu, id="cupy")])
@pytest.mark.parametrize("make, shapes, ref", [
    (lambda: add(1000), [(1000,), (1000,)], lambda a, b: a + b),
    (lambda: softmax(4, 1000), [(4, 1000)], lambda x: _softmax(np.exp(x - x.max(1)[:, None]))),
    (lambda: tiled_gemm(100, 70, 45), [(100, 45), (45, 70)], lambda a, b: a @ b),
])
def test_hand_written_kernels_on_a_device(make_device, make, shapes, ref):
    """The hand-written kernels of tests/codegen/test_cuda_source.py through a device's
    compile/allocate/upload/launch/download."""
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    func = make()
    out = np.zeros(func.params[-1].shape, np.float32)
    launch_once(make_device(), func, *ins, out)
    np.testing.assert_allclose(out, ref(*ins), rtol=1e-4, atol=1e-5)


def test_cupy_is_never_imported_for_cpu_work():
    """Compiling for the CPU, making CUDA source and importing the GPU runtime need no CuPy."""
    code = ("import sys, tensorforge\n"
            "from tensorforge.codegen.cuda import cuda_source\n"
            "sys.path.insert(0, 'tests/codegen'); import tir_kernels\n"
            "tensorforge.compile('../shared/models/mlp.onnx', target='llvm')\n"
            "cuda_source(tir_kernels.add(8))\n"
            "import tensorforge.runtime.cuda_module, tensorforge.runtime.cuda_device\n"
            "assert 'cupy' not in sys.modules, 'cupy imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: compiling for it works")
def test_compile_for_cuda_without_a_gpu_says_what_is_missing():
    import tensorforge
    from tensorforge.runtime.cuda_device import CudaUnavailableError
    with pytest.raises(CudaUnavailableError, match="CuPy|CUDA device"):
        tensorforge.compile("../shared/models/mlp.onnx", target="cuda")


@needs_gpu
def test_chain_on_the_gpu_numpy_and_cupy_inputs_and_graphs():
    import cupy
    from tensorforge.runtime.cuda_device import CupyDevice
    module, ref = gpu_chain(33, 30, 17, CupyDevice())
    x = np.random.default_rng(5).standard_normal((33, 17)).astype(np.float32)
    check(module, ref, x)
    outs = module.run(cupy.asarray(x))
    assert all(isinstance(o, cupy.ndarray) for o in outs)
    for got, want in zip(outs, ref(x)):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-4, atol=1e-4)
    module.use_graph()
    for _ in range(2):
        check(module, ref, x)
