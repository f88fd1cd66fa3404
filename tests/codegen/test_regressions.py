"""Regressions found on real models, kept as small kernels.

The padded copy a standalone conv makes (`k00_conv` of convbnrelu at opt_level 0) is a
vectorized loop whose reads are guarded (`in[select(c, i, 0)]`) and, in the tail vector,
also masked; it was reported to fail there (an AssertionError in the emitter's masked
`select`, operand types differing), which this test and tests/test_compile_unfused.py guard.
"""

import numpy as np
from hypothesis import example, given, settings, strategies as st

from tensorforge.compiler import te

from te_testing import close, rand, run


@settings(max_examples=10, deadline=None)
@given(rows=st.integers(1, 5), n=st.integers(1, 40), pad=st.integers(1, 3),
       f=st.sampled_from([4, 8, 16]), dtype=st.sampled_from(["float32", "int32", "float64"]))
@example(rows=3, n=56, pad=1, f=16, dtype="float32")     # convbnrelu's 56 -> 58, tail of 10
@example(rows=1, n=1, pad=1, f=16, dtype="float32")
def test_vectorized_padding_copy_with_tail(rows, n, pad, f, dtype):
    """for i: for jo: for ji in vectorized(0, f): P[i, jo*f+ji] = pad-guarded A[i, j - pad]"""
    A = te.placeholder((rows, n), name="A", dtype=dtype)
    w = n + 2 * pad
    P = te.compute((rows, w), lambda i, j: te.if_then_else(
        te.all(j >= pad, j < n + pad), A[i, j - pad], te.const(0, dtype)), name="P")
    s = te.create_schedule([P])
    _, ji = s[P].split(P.axis[1], f)
    s[P].vectorize(ji)
    a = (rand((rows, n)) * 10).astype(dtype)
    (out,), _ = run(s, [A, P], {A: a})
    close(out, np.pad(a, ((0, 0), (pad, pad))))
