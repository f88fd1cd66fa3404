"""A hand-lowered four-kernel "model" over the hand-written loop-IR kernels of
tests/codegen/tir_kernels.py, shaped like compiler.lower.lower_graph's output, so the
runtime is tested without the lowering:

    h = x @ W          gemm      (W a constant, h an intermediate)
    r = max(h, 0)      unary     (r an intermediate and graph output 1)
    s = row_sum(r)     row_sum   (graph output 0)
    z = r + h          add       (graph output 2; h lives across three kernels)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from tensorforge.compiler import tir
from tensorforge.compiler.graph import Value

import tir_kernels


@dataclass(frozen=True)
class FakeKernel:
    name: str
    func: tir.PrimFunc
    inputs: tuple
    outputs: tuple
    workload: str = ""
    template: str = "hand"
    config: dict = field(default_factory=dict)
    workspace: tuple = ()


CPU_FUNCS = SimpleNamespace(  # the loop IR of each kernel of `chain`, by role
    gemm=tir_kernels.gemm, add=tir_kernels.add, row_sum=tir_kernels.row_sum,
    relu=lambda n: tir_kernels.unary("relu", n, lambda v: tir.max_(v, 0.0)))


def chain(M: int, N: int, K: int, seed: int = 0, funcs: SimpleNamespace = CPU_FUNCS):
    """(graph inputs, graph outputs, kernels, reference(x) -> [s, r, z]); `funcs` builds
    the kernels' loop IR (tests/cuda gives GPU versions)."""
    W = np.random.default_rng(seed).standard_normal((K, N)).astype(np.float32)
    x, w = Value("x", (M, K), "float32"), Value("W", (K, N), "float32", W)
    h, r = Value("h", (M, N), "float32"), Value("r", (M, N), "float32")
    s, z = Value("s", (M,), "float32"), Value("z", (M, N), "float32")
    kernels = [
        FakeKernel("gemm_0", funcs.gemm(M, N, K), (x, w), (h,), f"gemm{M}x{N}x{K}"),
        FakeKernel("relu_1", funcs.relu(M * N), (h,), (r,)),
        FakeKernel("row_sum_2", funcs.row_sum(M, N), (r,), (s,)),
        FakeKernel("add_3", funcs.add(M * N), (r, h), (z,)),
    ]

    def reference(xa):
        ha = xa.astype(np.float64) @ W
        ra = np.maximum(ha, 0)
        return [ra.sum(1), ra, ra + ha]
    return (x,), (s, r, z), kernels, reference
