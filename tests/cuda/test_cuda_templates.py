"""GPU schedule templates: every template's kernels, lowered for "cuda", match the reference
executor when run on the CUDA emulator (shapes that are not multiples of the tiles, knob
variants), and compile with `nvcc -arch=sm_90 --ptx` (one nvcc call for all of them).

Each emulated kernel costs one g++ compile (~2 s, cached by source): the cases are few and
small on purpose."""

import dataclasses

import numpy as np
import pytest

from emulator import EMULATOR_AVAILABLE
from gpu_lowering_testing import CUDA, NVCC, check_node, nvcc_ptx, reference_values
from tensorforge.codegen.cuda import cuda_source
from tensorforge.compiler import GraphBuilder, optimize
from tensorforge.compiler.lower import lower_node
from tensorforge.compiler.templates import select_template
from tensorforge.compiler.topi import LoweringError


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def graph_of(inputs, build):
    """(optimized graph, feeds): `build(b, *input values)` returns the output values."""
    b = GraphBuilder()
    xs = [b.input(f"x{k}", shape, "float32") for k, shape in enumerate(inputs)]
    g = optimize(b.build(list(build(b, *xs))))
    return g, {v: rand(v.shape, k) for k, v in enumerate(g.inputs)}


def conv(b, x, oc, k, stride=1, pad=0, group=1, bias=True, seed=1):
    ic = x.shape[1] // group
    ins = [x, b.const(rand((oc, ic, k, k), seed))] + ([b.const(rand((oc,), seed + 1))] if bias else [])
    return b.emit1("Conv", ins, {"strides": (stride, stride), "pads": (pad,) * 4, "group": group,
                                 "dilations": (1, 1)})


# case -> (input shapes, graph, template of its one kernel, config or None for the default)
CASES = {
    "add_relu_broadcast": ([(3, 37), (37,)], lambda b, x, y: [b.emit1("Relu", [b.emit1("Add", [x, y])])],
                           "gpu_injective", None),
    "softmax_rows": ([(5, 70)], lambda b, x: [b.emit1("Softmax", [x], {"axis": 1})],
                     "gpu_reduction", {"threads": 64, "row_threads": 32}),
    "layer_norm": ([(4, 50)], lambda b, x: [b.emit1("LayerNormalization", [
        x, b.const(rand((50,), 3)), b.const(rand((50,), 4))], {"axis": 1, "epsilon": 1e-5})],
        "gpu_reduction", None),
    "reduce_leading_axis": ([(33, 7)], lambda b, x: [b.emit1("ReduceMax", [x],
                                                             {"axes": (0,), "keepdims": 0})],
                            "gpu_reduction", None),
    "max_pool": ([(1, 3, 11, 13)], lambda b, x: [b.emit1("MaxPool", [x], {
        "kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1),
        "ceil_mode": 0})], "gpu_reduction", None),
    "global_avg_pool": ([(1, 5, 7, 7)], lambda b, x: [b.emit1("GlobalAveragePool", [x])],
                        "gpu_reduction", None),
    "conv_transpose": ([(1, 4, 5, 6)], lambda b, x: [b.emit1("ConvTranspose", [
        x, b.const(rand((4, 3, 3, 3), 1))], {"strides": (2, 2), "pads": (1, 1, 1, 1),
                                              "dilations": (1, 1), "group": 1,
                                              "output_padding": (1, 1)})], "gpu_conv2d", None),
    "dense_bias": ([(37, 29)], lambda b, x: [b.emit1("Add", [
        b.emit1("MatMul", [x, b.const(rand((29, 45), 1))]), b.const(rand((45,), 2))])],
        "gpu_dense", None),
    "dense_float4_tiles": ([(20, 16)], lambda b, x: [b.emit1("MatMul", [x, b.const(rand((16, 24), 1))])],
                           "gpu_dense", {"bm": 8, "bn": 16, "tm": 2, "tn": 4, "bk": 4,
                                         "vector_load": 4}),
    "batch_matmul": ([(2, 9, 13), (2, 13, 11)], lambda b, x, y: [b.emit1("MatMul", [x, y])],
                     "gpu_dense", {"bm": 16, "bn": 16, "tm": 2, "tn": 2, "bk": 8, "vector_load": 1}),
    "gemm_trans_b": ([(6, 10)], lambda b, x: [b.emit1("Gemm", [
        x, b.const(rand((7, 10), 1)), b.const(rand((7,), 2))], {"transA": 0, "transB": 1, "alpha": 0.5,
                                                      "beta": 1.0})],
        "gpu_dense", None),
    "conv3x3_relu": ([(1, 5, 9, 11)], lambda b, x: [b.emit1("Relu", [conv(b, x, 10, 3, pad=1)])],
                     "gpu_conv2d", {"oc_block": 8, "thread_oc": 2, "oh_block": 4, "ow_block": 4,
                                    "ic_step": 2}),
    "conv_grouped_dilated": ([(1, 6, 9, 8)], lambda b, x: [b.emit1("Conv", [
        x, b.const(rand((12, 3, 3, 3), 1))], {"strides": (1, 1), "pads": (2,) * 4, "group": 2,
                                              "dilations": (2, 2)})],
        "gpu_conv2d", {"oc_block": 8, "thread_oc": 2, "oh_block": 2, "ow_block": 4,
                       "ic_step": 2}),  # blocks straddle the groups
    "conv1x1_stride2": ([(2, 6, 7, 9)], lambda b, x: [conv(b, x, 5, 1, stride=2, bias=False)],
                        "gpu_conv2d", None),
    "depthwise_stride2": ([(1, 6, 13, 11)], lambda b, x: [conv(b, x, 6, 3, stride=2, pad=1, group=6)],
                          "gpu_depthwise", {"oh_block": 4, "ow_block": 4}),
}


def kernel_of(case):
    shapes, build, template, config = CASES[case]
    g, feeds = graph_of(shapes, build)
    (node,) = g.nodes
    return node, reference_values(g, feeds), template, config


@pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")
@pytest.mark.parametrize("case", CASES)
def test_template_matches_reference_on_the_emulator(case):
    node, env, template, config = kernel_of(case)
    kernel = check_node(node, env, config)
    assert kernel.template == template


@pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH")
def test_template_kernels_compile_with_nvcc(tmp_path):
    """Every case with its default and its listed config (and each template's default on the
    others), as PTX for sm_90."""
    sources = []
    for case in CASES:
        node, _, _, config = kernel_of(case)
        for cfg in {None, None if config is None else tuple(sorted(config.items()))}:
            func = lower_node(node, CUDA, dict(cfg) if cfg else None).func
            sources.append(cuda_source(dataclasses.replace(func, name=f"k{len(sources)}")))
    nvcc_ptx(sources, tmp_path, "templates")


def test_gpu_templates_are_picked_only_for_cuda():
    node, _, _, _ = kernel_of("dense_bias")
    matmul = next(n for n in node.attrs["body"].nodes if n.op == "MatMul")
    assert select_template(matmul, CUDA).name == "gpu_dense"
    assert select_template(matmul, "llvm").name == "dense"
    assert select_template(matmul).name == "dense"


@pytest.mark.parametrize("config, message", [
    ({"bm": 64, "bn": 64, "tm": 1, "tn": 1, "bk": 8, "vector_load": 1}, "4096 threads"),
    ({"bm": 16, "bn": 16, "tm": 3, "tn": 1, "bk": 8, "vector_load": 1}, "must divide"),
    ({"bm": 128, "bn": 128, "tm": 8, "tn": 8, "bk": 64, "vector_load": 1}, "shared memory"),
])
def test_invalid_dense_configs_are_clear_errors(config, message):
    node, _, _, _ = kernel_of("dense_bias")
    with pytest.raises(LoweringError, match=message):
        lower_node(node, CUDA, config)
