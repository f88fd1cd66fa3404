"""Schedule primitives, each alone and in small combinations, against numpy; steps replay."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorforge.compiler import te
from te_testing import close, rand, run

dims = st.integers(1, 13)
factors = st.integers(1, 8)
few = settings(max_examples=15)


def add2(m, n):
    A, B = te.placeholder((m, n), name="A"), te.placeholder((m, n), name="B")
    return A, B, te.compute((m, n), lambda i, j: A[i, j] + B[i, j] * 2.0, name="C")


def matmul(m, n, k):
    A, B = te.placeholder((m, k), name="A"), te.placeholder((k, n), name="B")
    r = te.reduce_axis(k, name="k")
    return A, B, te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")


def check_add2(s, A, B, C):
    a, b = rand(A.shape), rand(B.shape, 1)
    (out,), func = run(s, [A, B, C], {A: a, B: b})
    close(out, a + 2 * b)
    return func


def check_matmul(s, A, B, C):
    a, b = rand(A.shape), rand(B.shape, 1)
    (out,), func = run(s, [A, B, C], {A: a, B: b})
    close(out, a @ b, A.shape[1])
    return func


@few
@given(dims, dims, factors, factors)
def test_split_factor_and_nparts_with_tails(m, n, f, p):
    A, B, C = add2(m, n)
    s = te.create_schedule([C])
    s[C].split(C.axis[0], factor=f)
    s[C].split(C.axis[1], nparts=p)
    check_add2(s, A, B, C)


@few
@given(dims, dims, dims, factors)
def test_split_reduce_axis(m, n, k, f):
    A, B, C = matmul(m, n, k)
    s = te.create_schedule([C])
    ko, ki = s[C].split(C.op.reduce_axis[0], f)
    s[C].reorder(ko, C.axis[0], ki, C.axis[1])
    check_matmul(s, A, B, C)


@few
@given(dims, dims, factors, factors)
def test_tile_and_reorder(m, n, f, g):
    A, B, C = add2(m, n)
    s = te.create_schedule([C])
    io, jo, ii, ji = s[C].tile(C.axis[0], C.axis[1], f, g)
    s[C].reorder(ji, jo, ii, io)
    func = check_add2(s, A, B, C)
    text = str(func)
    if m > f > 1 and n > g > 1:  # loops of extent 1 are folded away
        assert text.index("j.inner in") < text.index("j.outer in") < text.index("i.inner in")


@few
@given(dims, dims, dims, factors)
def test_fuse_three_axes_and_split_fused(a, b, c, f):
    A = te.placeholder((a, b, c), name="A")
    C = te.compute((a, b, c), lambda x, y, z: A[x, y, z] * 3.0, name="C")
    s = te.create_schedule([C])
    fused = s[C].fuse(*C.axis)
    s[C].split(fused, f)
    arr = rand((a, b, c))
    (out,), _ = run(s, [A, C], {A: arr})
    close(out, arr * 3)


@few
@given(dims, st.integers(1, 70))
def test_vectorize_any_width_including_reduction_data_axis(m, n):
    A, B, C = add2(m, n)
    s = te.create_schedule([C])
    s[C].vectorize(C.axis[1])
    check_add2(s, A, B, C)
    A, B, C = matmul(m, n, 3)
    s = te.create_schedule([C])
    s[C].reorder(C.axis[0], C.op.reduce_axis[0], C.axis[1])
    s[C].vectorize(C.axis[1])
    check_matmul(s, A, B, C)


@few
@given(dims, dims, factors)
def test_unroll_and_parallel(m, n, f):
    A, B, C = matmul(m, n, 5)
    s = te.create_schedule([C])
    io, ii = s[C].split(C.axis[0], f)
    s[C].parallel(io)
    s[C].unroll(ii)
    s[C].unroll(C.op.reduce_axis[0])
    func = check_matmul(s, A, B, C)
    assert "unrolled" in str(func) or f == 1 or m == 1


def test_parallel_thread_counts_agree(monkeypatch):
    A, B, C = matmul(37, 20, 9)
    s = te.create_schedule([C])
    s[C].parallel(s[C].fuse(*C.axis))
    a, b = rand(A.shape), rand(B.shape, 1)
    outs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TENSORFORGE_NUM_THREADS", threads)
        outs.append(run(s, [A, B, C], {A: a, B: b})[0][0])
    np.testing.assert_array_equal(outs[0], outs[1])


@few
@given(dims, dims, factors)
def test_compute_at_stencil_region(m, n, f):
    A = te.placeholder((m, n + 2), name="A")
    P = te.compute((m, n + 2), lambda i, j: A[i, j] * 2.0, name="P")
    C = te.compute((m, n), lambda i, j: P[i, j] + P[i, j + 2], name="C")
    s = te.create_schedule([C])
    jo, ji = s[C].split(C.axis[1], f)
    s[P].compute_at(s[C], jo)
    a = rand((m, n + 2))
    (out,), func = run(s, [A, C], {A: a})
    close(out, 2 * a[:, :n] + 2 * a[:, 2:])
    if f + 2 < n + 2:  # the region P needs per jo: one row, f + 2 columns
        assert f"P = allocate(float32, [1, {f + 2}], local)" in str(func)


@few
@given(dims, dims, factors, factors)
def test_cache_write_compute_at_tile_with_edges(m, n, f, g):
    A, B, C = matmul(m, n, 7)
    s = te.create_schedule([C])
    CL = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.axis[0], C.axis[1], f, g)
    s[CL].compute_at(s[C], jo)
    ic, jc = CL.op.axis
    s[CL].reorder(CL.op.reduce_axis[0], ic, jc)
    s[CL].vectorize(jc)
    s[C].vectorize(ji)
    func = check_matmul(s, A, B, C)
    if f < m and g < n:
        assert f"C.local = allocate(float32, [{f}, {g}], local)" in str(func)


@few
@given(dims, dims)
def test_compute_inline_chain(m, n):
    A = te.placeholder((m, n), name="A")
    B = te.compute((m, n), lambda i, j: A[i, j] + 1.0, name="B")
    C = te.compute((m, n), lambda i, j: B[i, j] * B[i, j], name="C")
    D = te.compute((n, m), lambda j, i: C[i, j] - 1.0, name="D")
    s = te.create_schedule([D])
    s[B].compute_inline()
    s[C].compute_inline()
    a = rand((m, n))
    (out,), func = run(s, [A, D], {A: a})
    close(out, ((a + 1) ** 2 - 1).T)
    assert "allocate" not in str(func)


def test_root_intermediates_get_allocations_local_or_scratch():
    A = te.placeholder((200, 200), name="A")
    B = te.compute((200, 200), lambda i, j: A[i, j] + 1.0, name="B")  # 160 KB: heap scratch
    C = te.compute((200, 200), lambda i, j: B[j, i] * 2.0, name="C")
    s = te.create_schedule([C])
    a = rand((200, 200))
    (out,), func = run(s, [A, C], {A: a})
    close(out, ((a + 1) * 2).T)
    assert "B = allocate(float32, [200, 200], global)" in str(func)


def test_steps_are_serializable_and_replay_exactly():
    def build():
        A, B, C = matmul(10, 20, 30)
        D = te.compute(C.shape, lambda i, j: te.max(C[i, j], 0.0), name="D")
        return A, B, C, D

    A, B, C, D = build()
    s = te.create_schedule([D])
    CL = s.cache_write(C, "local")
    s[C].compute_inline()
    io, jo, ii, ji = s[D].tile(D.axis[0], D.axis[1], 4, 8)
    s[CL].compute_at(s[D], jo)
    ko, ki = s[CL].split(CL.op.reduce_axis[0], nparts=3)
    s[CL].reorder(ko, ki, *CL.op.axis)
    s[D].parallel(s[D].fuse(io, jo))
    s[D].vectorize(ji)
    assert s.steps[:4] == [("cache_write", "C", "local"), ("compute_inline", "C"),
                           ("tile", "D", "i", "j", 4, 8), ("compute_at", "C.local", "D", "j.outer")]
    assert ("split", "C.local", "k", None, 3) in s.steps
    A2, B2, C2, D2 = build()
    s2 = te.create_schedule([D2]).apply(s.steps)
    assert s2.steps == s.steps
    assert str(te.lower(s, [A, B, D])) == str(te.lower(s2, [A2, B2, D2]))
    check_matmul_relu = run(s2, [A2, B2, D2], {A2: rand((10, 30)), B2: rand((30, 20), 1)})[0][0]
    close(check_matmul_relu, np.maximum(rand((10, 30)) @ rand((30, 20), 1), 0), 30)


# ---------------------------------------------------------------- illegal schedules

def test_illegal_schedules_are_rejected_clearly():
    A, B, C = matmul(8, 8, 8)
    D = te.compute((8, 8), lambda i, j: C[i, j] + 1.0, name="D")
    E = te.compute((8, 8), lambda i, j: A[i, j] * 2.0, name="E")
    F = te.compute((8, 8), lambda i, j: D[i, j] + E[i, j], name="F")
    s = te.create_schedule([F])
    k = C.op.reduce_axis[0]
    with pytest.raises(te.TEError, match="reduce axis"):
        s[C].vectorize(k)
    with pytest.raises(te.TEError, match="reduce axis"):
        s[C].parallel(k)
    with pytest.raises(te.TEError, match="belongs to stage C"):
        s[D].reorder(D.axis[1], C.axis[0])
    io, ii = s[C].split(C.axis[0], 4)
    with pytest.raises(te.TEError, match="already split"):
        s[C].split(C.axis[0], 2)
    with pytest.raises(te.TEError, match="does not read C"):
        s[C].compute_at(s[E], E.axis[0])
    with pytest.raises(te.TEError, match="reduction"):
        s[C].compute_inline()
    with pytest.raises(te.TEError, match="output"):
        s[F].compute_inline()
    with pytest.raises(te.TEError, match="data axes with reduce axes"):
        s[C].fuse(C.axis[1], k)
    with pytest.raises(te.TEError, match="adjacent"):
        s[C].fuse(io, C.axis[1])
    with pytest.raises(te.TEError, match="exactly one"):
        s[D].split(D.axis[0], factor=2, nparts=2)
    with pytest.raises(te.TEError, match="cache_write first"):
        s.cache_write(C, "local")
    with pytest.raises(te.TEError, match="must be in args"):
        te.lower(s, [A, F])
    s[C].compute_at(s[F], F.axis[0])  # F reads C only through D, which is not inlined
    with pytest.raises(te.TEError, match="read by \\['D'\\]"):
        te.lower(s, [A, B, F])


@few
@given(dims, dims, factors)
def test_compute_at_region_clipped_below_zero_with_padding(m, n, f):
    A = te.placeholder((m, n), name="A")
    P = te.compute((m, n), lambda i, j: A[i, j] + 1.0, name="P")
    C = te.compute((m, n), lambda i, j: te.if_then_else(j >= 1, P[i, j - 1], 0.0) + P[i, j],
                   name="C")
    s = te.create_schedule([C])
    jo, ji = s[C].split(C.axis[1], f)
    s[C].vectorize(ji)
    s[P].compute_at(s[C], jo)
    a = rand((m, n))
    (out,), _ = run(s, [A, C], {A: a})
    p = a + 1
    close(out, np.pad(p, ((0, 0), (1, 0)))[:, :n] + p)


@few
@given(dims, dims, dims)
def test_compute_at_inside_reduce_loop(m, n, k):
    A, B, C = matmul(m, n, k)
    P = te.compute(B.shape, lambda r, j: B[r, j] * 0.5, name="P")
    r = te.reduce_axis(k, name="r")
    C = te.compute((m, n), lambda i, j: te.sum(A[i, r] * P[r, j], axis=r), name="C")
    s = te.create_schedule([C])
    s[C].reorder(C.axis[0], r, C.axis[1])
    s[P].compute_at(s[C], r)
    a, b = rand(A.shape), rand(B.shape, 1)
    (out,), func = run(s, [A, B, C], {A: a, B: b})
    close(out, a @ (b * 0.5), k)
    assert f"P = allocate(float32, [1, {n}], local)" in str(func) or n == 1
