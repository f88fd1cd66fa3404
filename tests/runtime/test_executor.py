"""The executor over hand-lowered kernels: results against NumPy, the arena, fresh outputs,
concurrent runs, targets this host cannot run, linking errors."""

import re
from dataclasses import replace

import llvmlite.binding as llvm
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.codegen import Target, TargetError
from tensorforge.codegen.llvm_library import RUNNER
from tensorforge.compiler import GraphError, tir
from tensorforge.compiler.aligned import ALIGNMENT
from tensorforge.compiler.graph import Value
from tensorforge.runtime.module import Module
from tensorforge.runtime.program import structural_name

from lowered_kernels import FakeKernel, chain
from threads_testing import run_in_threads

HOST = Target.parse("llvm")


def make(M=7, N=37, K=5, target=HOST):
    inputs, outputs, kernels, ref = chain(M, N, K)
    return Module.link(inputs, outputs, kernels, target), ref


def check(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@given(st.integers(1, 13), st.integers(1, 40), st.integers(1, 9))
def test_chain_matches_numpy(M, N, K):
    mod, ref = make(M, N, K)
    x = np.random.default_rng(M * N * K).standard_normal((M, K)).astype(np.float32)
    check(mod.run(x), ref(x))


def test_intermediates_share_one_arena():
    mod, _ = make(8, 40, 3)
    plan = mod.memory_plan.verify()
    assert set(plan.offsets) == {"h"}          # r is a graph output: outside the arena
    assert plan.arena_bytes >= plan.lower_bound_bytes == 8 * 40 * 4
    assert mod.program.arena_bytes == plan.arena_bytes
    assert [c.name for c in mod.kernels] == ["gemm_0", "relu_1", "row_sum_2", "add_3"]


def test_outputs_are_fresh_per_call():
    mod, ref = make()
    x = np.ones((7, 5), np.float32)
    first = mod.run(x)
    first[0][:] = 123.0
    second = mod.run(x)
    assert not any(np.shares_memory(a, b) for a in first for b in second)
    check(second, ref(x))


def test_output_buffers_are_aligned():
    mod, _ = make(7, 37, 5)              # s: 28 bytes, then r and z: 1036 bytes each
    for out in mod.run(np.ones((7, 5), np.float32)):
        assert out.ctypes.data % ALIGNMENT == 0


def test_identical_kernels_compile_once():
    inputs, outputs, kernels, ref = chain(4, 16, 3)
    (_, r, z), h = outputs, kernels[0].outputs[0]
    z2 = Value("z2", z.shape, z.dtype)
    again = FakeKernel("add_4", replace(kernels[3].func, name="other_name"), (r, h), (z2,))
    mod = Module.link(inputs, (*outputs, z2), [*kernels, again], HOST)
    assert mod.kernels[3].symbol == mod.kernels[4].symbol
    assert len(re.findall(r'define .*@tf_kernel\.k[0-9a-f]+\(', mod.source("llvm"))) == 4
    out = mod.run(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(out[2], out[3])


def test_outputs_that_no_kernel_writes():
    inputs, outputs, kernels, ref = chain(3, 8, 2)
    (x,) = inputs
    w = kernels[0].inputs[1]
    mod = Module.link(inputs, (outputs[0], x, w, outputs[0]), kernels, HOST)
    xa = np.arange(6, dtype=np.float32).reshape(3, 2)
    s, xo, wo, s2 = mod.run(xa)
    np.testing.assert_array_equal(xo, xa)
    assert not np.shares_memory(xo, xa)
    np.testing.assert_array_equal(wo, w.data)
    np.testing.assert_array_equal(s, s2)
    assert not np.shares_memory(s, s2)


def test_concurrent_runs_from_four_threads():
    mod, ref = make(13, 70, 9)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((13, 9)).astype(np.float32) for _ in range(4)]

    def worker(x):
        for _ in range(25):
            check(mod.run(x), ref(x))

    run_in_threads(worker, xs)


def test_source_holds_every_kernel_and_the_runner():
    mod, _ = make()
    llvm_ir = mod.source("llvm")
    assert f"@{RUNNER}(" in llvm_ir
    for c in mod.kernels:
        assert f"define void @{c.symbol}(" in llvm_ir
    assert RUNNER in mod.source("asm")
    with pytest.raises(ValueError, match="source kind"):
        mod.source("ptx")


def test_target_the_host_cannot_run_is_refused_before_any_kernel():
    mod, _ = make(target=Target.parse("llvm -mattr=+amx-tile"))
    assert "tf_run" in mod.source("asm")          # compiling works anywhere
    with pytest.raises(TargetError, match="amx-tile"):
        mod.run(np.ones((7, 5), np.float32))


@pytest.mark.skipif(not llvm.get_host_cpu_features().get("avx512f"), reason="host lacks avx512f")
def test_avx512_target_runs_where_the_host_has_it():
    mod, ref = make(9, 53, 7, target=Target.parse("llvm -mcpu=avx512"))
    assert "zmm" in mod.source("asm")
    x = np.random.default_rng(3).standard_normal((9, 7)).astype(np.float32)
    check(mod.run(x), ref(x))


def test_avx512_target_compiles_on_any_host():
    mod, _ = make(target=Target.parse("llvm -mcpu=avx512"))
    assert "zmm" in mod.source("asm")


def test_profile_lists_kernels_slowest_first():
    mod, _ = make(20, 64, 32)
    prof = mod.profile(np.ones((20, 32), np.float32), repeat=3)
    assert sorted(r.name for r in prof.rows) == sorted(c.name for c in mod.kernels)
    assert [r.seconds for r in prof.rows] == sorted((r.seconds for r in prof.rows), reverse=True)
    text = str(prof)
    assert "gemm_0" in text and "%" in text
    from rich.console import Console
    console = Console(record=True, width=100)
    console.print(prof)
    assert "row_sum_2" in console.export_text()


def test_kernel_with_wrong_param_size_is_a_graph_error():
    inputs, outputs, kernels, _ = chain(3, 8, 2)
    bad = replace(kernels[1], inputs=(kernels[0].inputs[1],))   # W has 16 elements, not 24
    with pytest.raises(GraphError, match="relu_1"):
        Module.link(inputs, outputs, [kernels[0], bad, *kernels[2:]], HOST)


def test_kernel_reading_an_unwritten_tensor_is_refused():
    inputs, outputs, kernels, _ = chain(3, 8, 2)
    with pytest.raises(Exception, match="read before it is written"):
        Module.link(inputs, outputs, kernels[1:], HOST)


def _scale(n, factor, names="XYi"):
    """for i in vectorized(0, n): Y[i] = X[i] * factor, with the given buffer/var names."""
    X, Y = tir.Buffer(names[0], "float32", (n,)), tir.Buffer(names[1], "float32", (n,))
    i = tir.Var(names[2])
    return tir.PrimFunc("scale", (X, Y), tir.For(i, 0, n, "vectorized", Y.store(i, X[i] * factor)))


def test_structural_name_ignores_names_only():
    base = structural_name(_scale(8, 2.0))
    assert structural_name(replace(_scale(8, 2.0, "PQj"), name="other")) == base
    assert structural_name(_scale(8, 3.0)) != base
    assert structural_name(_scale(9, 2.0)) != base
