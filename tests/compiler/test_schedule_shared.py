"""compute_at of a stage read by several stages, all computed at the same loop: the stage is
computed once there, over the union of the regions its readers read (softmax's row max,
read by the exp row and by the output)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lower_testing import single
from te_testing import close, rand, run
from tensorforge.compiler import te

dims = st.integers(1, 13)
few = settings(max_examples=15)


def softmax_rows(m, n):
    """M = row max, E = exp(A - M), S = row sum of E, C = E / S."""
    A = te.placeholder((m, n), name="A")
    k = te.reduce_axis(n, "k")
    M = te.compute((m,), lambda i: te.max_reduce(A[i, k], axis=k), name="M")
    E = te.compute((m, n), lambda i, j: te.exp(A[i, j] - M[i]), name="E")
    r = te.reduce_axis(n, "r")
    S = te.compute((m,), lambda i: te.sum(E[i, r], axis=r), name="S")
    C = te.compute((m, n), lambda i, j: E[i, j] / S[i], name="C")
    return A, M, E, S, C


@few
@given(dims, dims)
def test_softmax_statistics_once_per_row(m, n):
    A, M, E, S, C = softmax_rows(m, n)
    s = te.create_schedule([C])
    row = C.op.axis[0]
    for t in (M, E, S):  # E is read by S and by C, both at C's row loop
        s[t].compute_at(s[C], row)
    s[E].vectorize(E.op.axis[1])
    s[C].vectorize(C.op.axis[1])
    a = rand((m, n))
    (out,), func = run(s, [A, C], {A: a})
    e = np.exp(a - a.max(1, keepdims=True))
    close(out, e / e.sum(1, keepdims=True))
    text = str(func)
    assert text.count("allocate") == 3 and f"E = allocate(float32, [1, {n}], local)" in text
    assert text.count("exp(") == 1


@few
@given(dims, dims, st.integers(1, 6))
def test_shared_region_is_the_union_of_the_readers(m, n, f):
    """P is read by C (rows io*f ...) and by Q (rows io*f + 1 ...): P's tile has f + 1 rows,
    clipped at the bottom edge."""
    A = te.placeholder((m + 1, n), name="A")
    P = te.compute((m + 1, n), lambda i, j: A[i, j] * 2.0, name="P")
    Q = te.compute((m, n), lambda i, j: P[i + 1, j] + 1.0, name="Q")
    C = te.compute((m, n), lambda i, j: P[i, j] - Q[i, j], name="C")
    s = te.create_schedule([C])
    io, _ = s[C].split(C.op.axis[0], f)
    s[Q].compute_at(s[C], io)
    s[P].compute_at(s[C], io)
    a = rand((m + 1, n))
    (out,), func = run(s, [A, C], {A: a})
    close(out, 2 * a[:-1] - (2 * a[1:] + 1))
    rows = min(f + 1, m + 1)
    assert f"P = allocate(float32, [{rows}, {n}], local)" in str(func)


def test_readers_at_other_loops_are_refused():
    A, M, E, S, C = softmax_rows(4, 5)
    s = te.create_schedule([C])
    s[E].compute_at(s[C], C.op.axis[0])
    s[S].compute_at(s[C], C.op.axis[1])  # S at another loop than E's other reader, C.i
    s[M].compute_at(s[C], C.op.axis[0])
    with pytest.raises(te.TEError, match=r"E is computed at C\.i but read by \['S', 'C'\]"):
        te.lower(s, [A, C])


def _kernel_text(op, shape):
    (k,) = single(op, [shape], {"axis": -1})
    return str(k.func)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("n", [5, 16, 37])
def test_generic_schedule_shares_softmax_statistics(op, n):
    """One row max, one row sum and (softmax) one exp per element, all at the row loop."""
    text = _kernel_text(op, (3, 4, n))
    assert text.count(".max.lanes = allocate") + text.count(".max.row = allocate") == 1
    assert text.count(".sum.lanes = allocate") + text.count(".sum.row = allocate") == 1
    tail = n > 16 and n % 16  # LogSoftmax: exp inside the sum, in its vector and tail parts
    assert text.count("exp(") == (1 if op == "Softmax" else 1 + bool(tail))
