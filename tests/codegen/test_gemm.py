"""Register-blocked GEMM micro-kernel written in TIR: correctness and the SIMD it compiles to."""

import re

import numpy as np
import pytest

from tensorforge.codegen.llvm_build import build

import tir_kernels


@pytest.mark.parametrize("M,N,K", [(6, 32, 8), (1, 1, 1), (13, 37, 5), (7, 48, 19), (50, 70, 33)])
def test_gemm_matches_numpy(M, N, K):
    rng = np.random.default_rng(M * N * K)
    a, b = rng.standard_normal((M, K), dtype="f4"), rng.standard_normal((K, N), dtype="f4")
    c = np.zeros((M, N), "f4")
    build(tir_kernels.gemm(M, N, K))(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5 * K)


def test_gemm_parallel_thread_counts_agree(monkeypatch):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((61, 40), dtype="f4"), rng.standard_normal((40, 70), dtype="f4")
    kernel = build(tir_kernels.gemm(61, 70, 40))
    outs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TENSORFORGE_NUM_THREADS", threads)
        outs.append(np.zeros((61, 70), "f4"))
        kernel(a, b, outs[-1])
    np.testing.assert_array_equal(outs[0], outs[1])


def _inner_loop(asm: str) -> str:
    """The basic block with the most FMAs: the k loop of the main tile."""
    blocks = re.split(r"\n\.LBB\S+:", asm)
    return max(blocks, key=lambda blk: blk.count("vfmadd"))


def test_avx512_asm_uses_zmm_registers_without_spills():
    kernel = build(tir_kernels.gemm(60, 64, 64), "llvm -mcpu=avx512")  # compiles on any host
    loop = _inner_loop(kernel.source("asm"))
    assert loop.count("vfmadd231ps") >= 12 and "zmm" in loop
    assert "rsp" not in loop  # the 6x32 accumulator tile lives in registers


def test_haswell_asm_uses_no_zmm():
    asm = build(tir_kernels.gemm(60, 64, 64, nr=16), "llvm -mcpu=haswell").source("asm")
    assert "zmm" not in asm and "ymm" in asm and "vfmadd" in asm
