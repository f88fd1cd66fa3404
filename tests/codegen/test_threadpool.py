"""The thread pool parallel loops run on (codegen/llvm_threadpool): every iteration runs
exactly once for any extent, start and thread count; thread-count changes, concurrent
callers, nested and repeated parallel loops; no libgomp."""

import os
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
from hypothesis import example, given, settings, strategies as st

from tensorforge.codegen.llvm_build import build
from tensorforge.compiler import tir
from tensorforge.compiler.tir import Buffer, For, PrimFunc, Var

from threads_testing import run_in_threads

N = 700


def increment(outer: str = "parallel", inner: str = "serial") -> PrimFunc:
    """for i in outer(lo, lo + m): for j in inner(0, 3): C[i, j] = C[i, j] + 1 + j"""
    C = Buffer("C", "int32", (N, 3))
    i, j, lo, m = Var("i"), Var("j"), Var("lo"), Var("m")
    body = For(j, 0, 3, inner, C.store((i, j), C[i, j] + tir.cast("int32", j + 1)))
    return PrimFunc("increment", (C, lo, m), For(i, lo, m, outer, body))


def expected(lo: int, m: int, times: int = 1) -> np.ndarray:
    want = np.zeros((N, 3), "i4")
    want[lo:lo + m] = times * np.arange(1, 4)
    return want


@contextmanager
def threads(count: int):
    saved = os.environ.get("TENSORFORGE_NUM_THREADS")
    os.environ["TENSORFORGE_NUM_THREADS"] = str(count)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TENSORFORGE_NUM_THREADS"]
        else:
            os.environ["TENSORFORGE_NUM_THREADS"] = saved


KERNEL = build(increment())


@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, N), start=st.integers(0, N), count=st.integers(1, 9))
@example(0, 0, 2).via("empty range")
@example(1, 5, 2).via("one iteration")
@example(N, 0, 2).via("whole range")
@example(37, 11, 300).via("more threads than MAX_THREADS")
def test_every_iteration_runs_once(m, start, count):
    lo = min(start, N - m)
    c = np.zeros((N, 3), "i4")
    with threads(count):
        KERNEL(c, lo, m)
    np.testing.assert_array_equal(c, expected(lo, m))


def test_thread_count_changes_and_many_small_jobs():
    """Late workers of one job must never run a chunk of the next: thousands of tiny jobs,
    with thread counts going up and down (workers above the count sit jobs out)."""
    c = np.zeros((N, 3), "i4")
    for count in (2, 5, 1, 3, 2):
        with threads(count):
            for k in range(400):
                KERNEL(c, 0, 2 + k % 9)
    np.testing.assert_array_equal(c[:2], 2000 * np.ones((2, 1), "i4") * np.arange(1, 4))
    totals = sum(sum(1 for k in range(400) if 2 + k % 9 > row) for row in range(2, 10))
    assert c[2:10, 0].sum() == 5 * totals
    assert not c[10:].any()


def test_call_returns_after_every_chunk_is_done():
    """Chunks of a few ms each, whose store comes at their end: a caller that returned
    while a worker still ran one would leave a zero behind."""
    C = Buffer("C", "float32", (4,))
    i, j = Var("i"), Var("j")
    steps = 1 << 21  # float32 counts that far exactly
    slow = build(PrimFunc("slow", (C,), For(i, 0, 4, "parallel", For(
        j, 0, steps, "serial", C.store(i, C[i] + tir.const(1.0, "float32"))))))
    with threads(2):
        for _ in range(5):
            c = np.zeros(4, "f4")
            slow(c)
            np.testing.assert_array_equal(c, np.full(4, steps, "f4"))


def test_concurrent_callers_each_get_their_result():
    """Four Python threads at once: one holds the pool, the others run serially."""
    def worker(seed):
        rng = np.random.default_rng(seed)
        for _ in range(150):
            m = int(rng.integers(0, N))
            c = np.zeros((N, 3), "i4")
            KERNEL(c, 0, m)
            np.testing.assert_array_equal(c, expected(0, m))

    with threads(2):
        run_in_threads(worker, range(4))


def test_nested_and_sequential_parallel_loops():
    nested = build(increment("parallel", "parallel"))
    C = Buffer("C", "int32", (N, 3))
    i, j, lo, m = Var("i"), Var("j"), Var("lo"), Var("m")
    twice = build(PrimFunc("twice", (C, lo, m), tir.seq(*(
        For(v, lo, m, "parallel", For(w, 0, 3, "serial",
                                       C.store((v, w), C[v, w] + tir.cast("int32", w + 1))))
        for v, w in ((i, j), (Var("i2"), Var("j2")))))))
    with threads(2):
        c = np.zeros((N, 3), "i4")
        nested(c, 3, 500)
        np.testing.assert_array_equal(c, expected(3, 500))
        c = np.zeros((N, 3), "i4")
        twice(c, 10, 300)
        np.testing.assert_array_equal(c, expected(10, 300, times=2))
    assert nested.source("llvm").count("call void @tf_parallel_for(") == 1


def test_parallel_loops_do_not_load_libgomp():
    script = ("import numpy as np\n"
              "from tensorforge.codegen.llvm_build import build\n"
              "import test_threadpool as t\n"
              "c = np.zeros((t.N, 3), 'i4')\n"
              "with t.threads(2):\n"
              "    t.KERNEL(c, 0, t.N)\n"
              "assert (c == t.expected(0, t.N)).all()\n"
              "print('libgomp' in open('/proc/self/maps').read())\n")
    here = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.path.dirname(here)]))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert "GOMP" not in KERNEL.source("llvm")
