"""Loop-IR features: fixed length, sensitive to the schedule, right strides and flop counts."""

import numpy as np
import pytest
from tuning_tasks import tir_kernels
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.compiler import tir
from tensorforge.tuner import FEATURE_LENGTH, featurize
from tensorforge.tuner.features import (KINDS, LOOP_WIDTH, MAX_KNOBS, MAX_LOOPS, log2p,
                                        loop_features, stride)

TOTALS = MAX_LOOPS * LOOP_WIDTH + 4 * 4     # offset of the totals block


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 20), st.sampled_from([1, 3, 6]),
       st.sampled_from([1, 8, 16, 32]))
def test_fixed_length_and_flops(M, N, K, mr, nr):
    f = featurize(tir_kernels.gemm(M, N, K, mr, nr), [mr, nr])
    assert f.shape == (FEATURE_LENGTH,) and np.isfinite(f).all()
    assert f[TOTALS] == pytest.approx(log2p(2 * M * N * K))          # one mul + one add per MAC
    assert f[-MAX_KNOBS:][:2].tolist() == [mr, nr]


def test_other_kernels_have_the_same_length():
    for func in (tir_kernels.add(37), tir_kernels.row_sum(5, 9),
                 tir.PrimFunc("empty", (), tir.seq())):
        assert featurize(func).shape == (FEATURE_LENGTH,)


def test_schedule_changes_the_features():
    a = loop_features(tir_kernels.gemm(64, 64, 64, 6, 32))
    b = loop_features(tir_kernels.gemm(64, 64, 64, 4, 16))
    c = loop_features(tir_kernels.row_sum(64, 64, "parallel"))
    d = loop_features(tir_kernels.row_sum(64, 64, "serial"))
    assert not np.array_equal(a, b) and not np.array_equal(c, d)


def test_innermost_loop_is_the_last_row_with_kind_and_stride():
    f = loop_features(tir_kernels.row_sum(7, 33)).reshape(-1)
    inner = f[(MAX_LOOPS - 1) * LOOP_WIDTH:MAX_LOOPS * LOOP_WIDTH]
    outer = f[(MAX_LOOPS - 2) * LOOP_WIDTH:(MAX_LOOPS - 1) * LOOP_WIDTH]
    assert inner[0] == pytest.approx(log2p(33)) and outer[0] == pytest.approx(log2p(7))
    assert inner[3 + KINDS.index("serial")] == 1 and outer[3 + KINDS.index("parallel")] == 1
    assert inner[1] == pytest.approx(log2p(7)) and outer[2] == pytest.approx(log2p(33))


def test_stride_of_accesses():
    A = tir.Buffer("A", "float32", (10, 20))
    i, j = tir.Var("i"), tir.Var("j")
    index = A[i, j * 2].index
    assert stride(index, i) == 20 and stride(index, j) == 2
    assert stride(A[i // 4, j].index, j) == 1


def test_gemm_buffers_touched():
    """Main nest of the 6x32 tile: the accumulator (local) then A and B; the innermost
    (vectorized) loop walks B and acc with stride 1 and keeps A fixed."""
    M = N = K = 48
    f = loop_features(tir_kernels.gemm(M, N, K, 6, 32))
    (acc, a, b, empty) = f[MAX_LOOPS * LOOP_WIDTH:TOTALS].reshape(4, 4)
    assert acc.tolist()[:3] == [pytest.approx(log2p(6 * 32 * 4)), 1.0, 1.0]
    assert a.tolist()[:3] == [pytest.approx(log2p(M * K * 4)), 0.0, 0.0]
    assert b.tolist()[:3] == [pytest.approx(log2p(32 * K * 4)), 1.0, 0.0]   # 32 of N's columns
    assert not empty.any()
