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


INT_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from(INT_TYPES), n=st.integers(1, 70),
       op=st.sampled_from(["div", "floordiv", "floormod"]))
def test_integer_division_never_traps(dtype, n, op):
    """The ONNX node suite's test_div_int8 died of SIGFPE: a vector tail loads its masked-off
    divisor lanes as 0 and divides them anyway. Zero divisors and INT_MIN / -1 must not trap
    either (they give the dividend and INT_MIN): ONNX leaves them undefined, a crash is not."""
    from tensorforge.codegen import build
    from tensorforge.compiler.tir import Binary, Buffer, For, PrimFunc, Var

    A, B, C = (Buffer(x, dtype, (n,)) for x in "ABC")
    i = Var("i")
    kernel = build(PrimFunc("div", (A, B, C),
                            For(i, 0, n, "vectorized", C.store(i, Binary(op, A[i], B[i])))))
    info = np.iinfo(dtype)
    rng = np.random.default_rng(n)
    a = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    b = rng.integers(1, min(info.max, 100), n, dtype=dtype, endpoint=True)
    b[::3] = 0
    if info.min < 0:
        a[1::3], b[1::3] = info.min, -1
    c = np.empty_like(a)
    kernel(a, b, c)
    ok = b != 0
    if info.min < 0:
        ok &= ~((a == info.min) & (b == -1))
    want = {"div": lambda: np.trunc(a[ok] / b[ok].astype(np.float64)),
            "floordiv": lambda: a[ok] // b[ok], "floormod": lambda: a[ok] % b[ok]}[op]()
    if op == "div":  # exact integer truncation for 64-bit values too
        q = np.abs(a[ok].astype(object)) // np.abs(b[ok].astype(object))
        want = np.array([qq if (x >= 0) == (y > 0) else -qq
                         for qq, x, y in zip(q, a[ok], b[ok])], dtype=object).astype(dtype)
    np.testing.assert_array_equal(c[ok], want)
    np.testing.assert_array_equal(c[b == 0], a[b == 0] if op != "floormod" else 0)
