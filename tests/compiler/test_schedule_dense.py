"""The dense template: correctness over shapes and configs, fused epilogue, batch, and the
SIMD it compiles to (assembly only, so AVX-512 code is checked on any host)."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorforge.codegen as codegen
from tensorforge.compiler import te
from tensorforge.compiler.templates.dense import default_config, dense, dense_schedule, dense_space
from te_testing import close, rand, run

TARGET = codegen.Target.parse("llvm")
SPACE = dense_space(64, 64, 64, TARGET)
configs = st.fixed_dictionaries({
    "mr": st.sampled_from([m for m in SPACE["mr"] if m <= 8]),
    "nr": st.sampled_from(SPACE["nr"][:2]),
    **{k: st.sampled_from(SPACE[k]) for k in ("kc", "mb", "pack_b", "order", "parallel")}})


def build_dense(M, N, K, config, epilogue=True, transpose_b=False, batch=None):
    pre = (batch,) if batch else ()
    A = te.placeholder(pre + (M, K), name="A")
    B = te.placeholder(pre + ((N, K) if transpose_b else (K, N)), name="B")
    C = dense(A, B, config, transpose_b=transpose_b)
    args = [A, B]
    out = C
    if epilogue:
        bias = te.placeholder((N,), name="bias")
        out = te.compute(C.shape, lambda *ax: te.max(C[ax] + bias[ax[-1]], 0.0), name="D")
        args.append(bias)
    return args + [out], dense_schedule([out], config, TARGET)


def check(M, N, K, config, epilogue=True, transpose_b=False, batch=None):
    args, s = build_dense(M, N, K, config, epilogue, transpose_b, batch)
    pre = (batch,) if batch else ()
    a = rand(pre + (M, K))
    b = rand(pre + ((N, K) if transpose_b else (K, N)), 1)
    inputs = {args[0]: a, args[1]: b}
    want = a @ (np.swapaxes(b, -1, -2) if transpose_b else b)
    if epilogue:
        bias = rand((N,), 2)
        inputs[args[2]] = bias
        want = np.maximum(want + bias, 0)
    (out,), func = run(s, args, inputs)
    close(out, want, K)
    return func


@settings(max_examples=25)
@given(st.integers(1, 40), st.integers(1, 70), st.integers(1, 20), configs, st.booleans())
def test_dense_matches_numpy_over_shapes_and_configs(M, N, K, config, epilogue):
    check(M, N, K, config, epilogue)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (24, 64, 16), (13, 37, 29), (50, 33, 7)])
def test_dense_default_config(M, N, K):
    func = check(M, N, K, default_config(M, N, K, TARGET))
    assert "local" in str(func)


def test_dense_transposed_b_and_batch():
    cfg = {**default_config(10, 20, 12, TARGET), "pack_b": True}
    check(10, 20, 12, cfg, transpose_b=True)
    check(10, 20, 12, cfg, batch=3)
    check(9, 17, 5, {**cfg, "pack_b": False}, epilogue=False, batch=2)


def test_default_loop_nest_keeps_the_tile_in_vector_registers():
    cfg = default_config(64, 64, 64, TARGET)
    args, s = build_dense(64, 64, 64, cfg)
    text = str(te.lower(s, args, name="dense"))
    mr, nr = cfg["mr"], cfg["nr"]
    assert f"dense.local = allocate(float32, [{mr}, {nr}], local)" in text
    assert "dense.pack = allocate(float32" in text and "if " not in text  # no edge guards
    assert re.search(r"for i0\.outer\.outer in parallel", text), text


def _fma_block(asm: str) -> str:
    return max(re.split(r"\n\.LBB\S+:", asm), key=lambda blk: blk.count("vfmadd"))


def test_asm_avx512_uses_zmm_and_haswell_does_not():
    for target, reg in (("llvm -mcpu=avx512", "zmm"), ("llvm -mcpu=haswell", "ymm")):
        t = codegen.Target.parse(target)
        args, s = build_dense(48, 64, 64, default_config(48, 64, 64, t))
        asm = codegen.build(te.lower(s, args, name="dense"), t).source("asm")
        loop = _fma_block(asm)
        assert loop.count("vfmadd231ps") >= 8 and reg in loop and "rsp" not in loop
        if reg == "ymm":
            assert "zmm" not in asm


def test_space_and_default_follow_the_vector_width():
    for target, lanes in (("llvm -mcpu=avx512", 16), ("llvm -mcpu=haswell", 8)):
        t = codegen.Target.parse(target)
        assert dense_space(256, 256, 256, t)["nr"][0] == lanes
        cfg = default_config(256, 256, 256, t)
        assert cfg["nr"] == 2 * lanes and 256 % cfg["mr"] == 0
    with pytest.raises(te.TEError, match="no dense compute"):
        A = te.placeholder((4, 4), name="A")
        dense_schedule([te.compute((4, 4), lambda i, j: A[i, j])], default_config(4, 4, 4))


def test_edge_tiles_get_a_guarded_copy_and_whole_tiles_none():
    cfg = {**default_config(20, 64, 16, TARGET), "mr": 8, "pack_b": False}
    args, s = build_dense(20, 64, 16, cfg, epilogue=False)
    text = str(te.lower(s, args, name="dense"))
    fast, slow = text.split("else:")
    assert "if (" in fast and "< 20" not in fast.split("dense.local[")[1]  # whole tile: no guard
    assert "< 20" in slow
    check(20, 64, 16, cfg, epilogue=False)


@pytest.mark.parametrize("order", ["io_jo", "jo_io"])
def test_every_block_size_is_its_own_schedule(order):
    """mb blocks the outer tile loop in either order: no two mb values lower alike."""
    cfg = {**default_config(64, 64, 64, TARGET), "order": order}
    nests = set()
    for mb in dense_space(64, 64, 64, TARGET)["mb"]:
        args, s = build_dense(64, 64, 64, {**cfg, "mb": mb})
        nests.add(str(te.lower(s, args, name="dense")))
    assert len(nests) == len(dense_space(64, 64, 64, TARGET)["mb"])

