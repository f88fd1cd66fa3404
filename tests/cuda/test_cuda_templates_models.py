"""Every kernel of every shared model lowers for "cuda" through the GPU templates, and its
CUDA C compiles with `nvcc -arch=sm_90 --ptx` (one nvcc call per model)."""

import pytest

from conftest import MODELS
from gpu_lowering_testing import CUDA, NVCC, nvcc_ptx
from tensorforge.codegen.cuda import cuda_source, launch_dims
from tensorforge.compiler import from_onnx, optimize
from tensorforge.compiler.lower import lower_graph

# the templates each model must use (the rest of its kernels: gpu_injective / gpu_reduction)
ANCHORS = {"mlp": {"gpu_dense"}, "convbnrelu": {"gpu_conv2d"},
           "resnet18": {"gpu_conv2d", "gpu_dense", "gpu_reduction"},
           "mobilenetv2": {"gpu_conv2d", "gpu_depthwise", "gpu_dense", "gpu_reduction"},
           "bert_mini": {"gpu_dense", "gpu_reduction", "gpu_injective"}}


@pytest.mark.parametrize("name", sorted(ANCHORS))
def test_model_kernels_lower_for_cuda_and_compile(name, tmp_path):
    kernels = lower_graph(optimize(from_onnx(str(MODELS / f"{name}.onnx"))), CUDA)
    assert ANCHORS[name] <= {k.template for k in kernels}
    for k in kernels:
        grid, block = launch_dims(k.func)
        assert 32 <= block[0] * block[1] * block[2] <= 1024, (k.name, block)
    if NVCC is None:
        pytest.skip("nvcc not on PATH: lowering checked, compilation not")
    nvcc_ptx([cuda_source(k.func) for k in kernels], tmp_path, name)
