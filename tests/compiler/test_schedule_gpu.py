"""GPU schedule primitives: bind (loops as blockIdx/threadIdx), cache_read into shared memory
(the block's tile, cooperative loads, barriers), their errors, and replay of their steps.
Correctness of the kernels they make is checked on the CUDA emulator (tests/cuda)."""

import pytest

from tensorforge.compiler import te, tir
from tensorforge.compiler.tir_simplify import simplify

THREADS = frozenset({"threadIdx.x", "threadIdx.y", "threadIdx.z"})


def elementwise(n=1000):
    A = te.placeholder((n,), name="A")
    return A, te.compute((n,), lambda i: A[i] * 2.0, name="B")


def matmul(m=37, n=45, k=29):
    A, B = te.placeholder((m, k), name="A"), te.placeholder((k, n), name="B")
    r = te.reduce_axis(k, "k")
    return A, B, te.compute((m, n), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")


def tiled_matmul(bm=16, bn=16, bk=8, tm=2, tn=2, **shape):
    """64-thread blocks of bm x bn outputs, tm x tn per thread, A and B tiles in shared."""
    A, B, C = matmul(**shape)
    s = te.create_schedule([C])
    CL = s.cache_write(C, "local")
    O = s[C]
    i, j = C.op.axis
    by, ii = O.split(i, bm)
    ty, ri = O.split(ii, tm)
    bx, jj = O.split(j, bn)
    tx, rj = O.split(jj, tn)
    O.reorder(by, bx, ty, tx, ri, rj)
    for axis, index in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"),
                        (tx, "threadIdx.x")):
        O.bind(axis, index)
    s[CL].compute_at(O, tx)
    ko, ki = s[CL].split(CL.op.reduce_axis[0], bk)
    s[CL].reorder(ko, ki, *CL.op.axis)
    for X in (A, B):
        S = s.cache_read(X, "shared", [CL])
        s[S].compute_at(s[CL], ko)
        rest, x = s[S].split(s[S].fuse(*S.op.axis), bn // tn)
        s[S].bind(x, "threadIdx.x")
        s[S].bind(s[S].split(rest, bm // tm)[1], "threadIdx.y")
    return s, [A, B, C]


def loops(func):
    return [(n.var.name, n.kind, n.extent.value) for n in tir.walk(func.body)
            if isinstance(n, tir.For)]


def barriers_under_thread_guards(func) -> int:
    """Barriers inside an `if` whose condition depends on a thread index (a deadlock)."""
    thread_vars = {n.var for n in tir.walk(func.body) if isinstance(n, tir.For) and n.kind in THREADS}
    return sum(1 for n in tir.walk(func.body) if isinstance(n, tir.IfThenElse)
               and set(tir.free_vars(n.cond)) & thread_vars
               for m in tir.walk(n.then_case) if isinstance(m, tir.Barrier))


def test_bind_makes_block_and_thread_loops_with_a_guarded_tail():
    A, B = elementwise(1000)
    s = te.create_schedule([B])
    bo, ti = s[B].split(B.op.axis[0], 256)
    s[B].bind(bo, "blockIdx.x")
    s[B].bind(ti, "threadIdx.x")
    func = te.lower(s, [A, B], "scale", target="cuda")
    assert loops(func) == [("i.outer", "blockIdx.x", 4), ("i.inner", "threadIdx.x", 256)]
    assert "if ((i.outer * 256) + i.inner) < 1000:" in str(func)
    assert s.steps[-1] == ("bind", "B", "i.inner", "threadIdx.x")


def test_shared_tiles_are_the_whole_blocks_region_between_barriers():
    s, args = tiled_matmul(m=32, n=48, k=16)
    func = te.lower(s, args, "gemm", target="cuda -arch=sm_90")
    text = str(func)
    # the block's tile (16 rows of A, 16 columns of B), not one thread's 2 x 2
    assert "A.shared = allocate(float32, [16, 8], shared)" in text
    assert "B.shared = allocate(float32, [8, 16], shared)" in text
    assert text.count("barrier()") == 4
    body = [line.strip() for line in text.splitlines()]
    first = body.index("A.shared = allocate(float32, [16, 8], shared)")
    assert body[first + 1] == "barrier()"  # before the load: the last tile has been read
    kinds = [k for _, k, _ in loops(func)]
    assert kinds.count("threadIdx.x") == 3  # the output's and both cooperative loads
    assert barriers_under_thread_guards(func) == 0


def test_edge_tiles_keep_barriers_out_of_thread_dependent_branches():
    """37 x 45 x 29 does not divide into 16 x 16 x 8 tiles: the loads and stores are guarded,
    the barriers never are."""
    s, args = tiled_matmul(m=37, n=45, k=29)
    func = te.lower(s, args, "gemm", target="cuda")
    assert barriers_under_thread_guards(func) == 0
    assert "< 37" in str(func) and "< 45" in str(func)


def test_steps_replay_bind_and_cache_read():
    s, args = tiled_matmul()
    assert ("cache_read", "A", "shared", ("C.local",)) in s.steps
    A, B, C = args
    again = te.create_schedule([C]).apply(s.steps)
    assert str(te.lower(again, args, "g", target="cuda")) == str(te.lower(s, args, "g", target="cuda"))


def test_stage_whose_threads_write_one_tile_is_shared():
    """A stage computed at the block loop with loops bound to threads: its buffer is shared."""
    A = te.placeholder((8, 64), name="A")
    k = te.reduce_axis(4, "k")
    P = te.compute((8, 16), lambda r, l: te.sum(A[r, k * 16 + l], axis=k), name="P")
    m = te.reduce_axis(16, "m")
    S = te.compute((8,), lambda r: te.sum(P[r, m], axis=m), name="S")
    s = te.create_schedule([S])
    s[S].bind(S.op.axis[0], "blockIdx.x")
    s[P].compute_at(s[S], S.op.axis[0])
    s[P].bind(P.op.axis[1], "threadIdx.x")
    text = str(te.lower(s, [A, S], "rows", target="cuda"))
    assert "P = allocate(float32, [1, 16], shared)" in text and text.count("barrier()") == 2


def test_one_trip_gpu_loops_survive_simplification():
    A = tir.Buffer("A", "float32", (4,))
    t, i = tir.Var("t"), tir.Var("i")
    gpu = tir.For(t, 0, 1, "threadIdx.x", A.store(t, 1.0))
    serial = tir.For(i, 0, 1, "serial", A.store(i, 1.0))
    assert simplify(gpu) == gpu  # thread 0 alone: not every thread
    assert simplify(serial) == A.store(0, 1.0)
    assert str(tir.seq(gpu, tir.Barrier())).splitlines()[-1] == "barrier()"


def test_binding_errors_are_clear():
    A, B, C = matmul()
    s = te.create_schedule([C])
    with pytest.raises(te.TEError, match="k is a reduce axis"):
        s[C].bind(C.op.reduce_axis[0], "threadIdx.x")
    with pytest.raises(te.TEError, match="unknown GPU index 'threadIdx.w'"):
        s[C].bind(C.op.axis[0], "threadIdx.w")
    s[C].bind(C.op.axis[0], "blockIdx.x")
    with pytest.raises(te.TEError, match="blockIdx.x is already bound to i"):
        s[C].bind(C.op.axis[1], "blockIdx.x")
    with pytest.raises(te.TEError, match="target 'llvm' is a CPU"):
        te.lower(s, [A, B, C], "cpu", target="llvm")


def test_cache_read_errors_are_clear():
    A, B, C = matmul()
    s = te.create_schedule([C])
    with pytest.raises(te.TEError, match="scope must be 'shared' or 'local'"):
        s.cache_read(A, "global", [C])
    D = te.compute(C.shape, lambda i, j: C[i, j] + 1.0, name="D")
    s = te.create_schedule([D])
    with pytest.raises(te.TEError, match="stage D does not read A"):
        s.cache_read(A, "shared", [D])
