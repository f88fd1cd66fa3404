"""The CUDA emulator runs the hand-written GPU kernels of test_cuda_source.py (elementwise tail,
vector epilogue, softmax with shared memory and barriers, shared-tile GEMM) like a GPU would:
checked against NumPy. Its own semantics (barriers, warp shuffles, deadlocks) are checked on
small hand-written CUDA C."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from emulator import EMULATOR_AVAILABLE, EmulatorError, emulate_launch
from test_cuda_source import add, gelu_bias, softmax, tiled_gemm
from tensorforge.codegen.cuda import cuda_source, kernel_name, launch_dims

pytestmark = pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")


def run(func, *arrays):
    """Launch `func` on `arrays` (outputs included) through the emulator; arrays in place."""
    grid, block = launch_dims(func)
    emulate_launch(cuda_source(func), kernel_name(func), grid, block, list(arrays))


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 700), st.sampled_from([32, 128, 256]))
def test_elementwise_with_tail(n, threads):
    a, b = rand(n), rand(n, seed=1)
    out = np.full(n + 1, np.nan, np.float32)  # one guard element past the end
    run(add(n, threads), a, b, out[:n])
    np.testing.assert_array_equal(out[:n], a + b)
    assert np.isnan(out[n]), "a tail thread wrote past n"


@pytest.mark.parametrize("rows, cols", [(3, 1000), (2, 1002), (1, 5)])
def test_gelu_epilogue_float4_and_per_lane(rows, cols):
    from math import erf
    x, bias = rand(rows, cols), rand(cols, seed=1)
    y = np.zeros_like(x)
    run(gelu_bias(rows, cols), x, bias, y)
    v = (x + bias).astype(np.float64)
    want = v * 0.5 * (1 + np.vectorize(erf)(v / np.sqrt(2)))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows, cols, threads", [(4, 1000, 128), (3, 7, 32), (2, 300, 64)])
def test_softmax_with_barriers(rows, cols, threads):
    x = rand(rows, cols) * 4
    y = np.zeros_like(x)
    run(softmax(rows, cols, threads), x, y)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("M, N, K", [(100, 70, 45), (32, 32, 8), (1, 33, 17)])
def test_shared_tile_gemm(M, N, K):
    a, b = rand(M, K), rand(K, N, seed=1)
    c = np.zeros((M, N), np.float32)
    run(tiled_gemm(M, N, K), a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the emulator's own semantics

REVERSE = """
extern "C" __global__ void reverse(const float* __restrict__ x, float* __restrict__ y, int n) {
  __shared__ float tile[256];
  const int t = (int)threadIdx.x;
  tile[t] = x[blockIdx.x * 256 + t];
  __syncthreads();
  if (blockIdx.x * 256 + t < n) y[blockIdx.x * 256 + t] = tile[255 - t] * 2.0f;
}
"""


def test_barrier_orders_shared_memory_across_blocks():
    """Every thread reads what another wrote before the barrier, in each of several blocks."""
    x = rand(768)
    y = np.zeros(700, np.float32)
    emulate_launch(REVERSE, "reverse", (3, 1, 1), (256, 1, 1), [x, y, 700])
    want = (x.reshape(3, 256)[:, ::-1] * 2).reshape(-1)[:700]
    np.testing.assert_array_equal(y, want)


WARP_SUM = """
extern "C" __global__ void warp_sum(const float* x, float* out, float* shifted) {
  const int t = (int)(threadIdx.y * blockDim.x + threadIdx.x);
  float v = x[t];
  shifted[t] = __shfl_down_sync(0xffffffffu, v, 1);
  for (int m = 16; m >= 1; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  out[t] = v;
}
"""


def test_warp_shuffles():
    """xor butterfly: every lane holds its warp's sum; down: lane i reads lane i + 1 (the last
    lane keeps its own value)."""
    x = rand(128)
    out, shifted = np.zeros(128, np.float32), np.zeros(128, np.float32)
    emulate_launch(WARP_SUM, "warp_sum", (1, 1, 1), (32, 4, 1), [x, out, shifted])
    np.testing.assert_allclose(out, np.repeat(x.reshape(4, 32).sum(1), 32), rtol=1e-5)
    want = np.concatenate([np.append(w[1:], w[-1]) for w in x.reshape(4, 32)])
    np.testing.assert_array_equal(shifted, want)


DIVERGENT = """
extern "C" __global__ void divergent(float* y) {
  if (threadIdx.x < 16) { __syncthreads(); }
  y[threadIdx.x] = 1.0f;
}
"""


def test_barrier_not_reached_by_all_threads_is_an_error():
    with pytest.raises(EmulatorError, match="deadlock"):
        emulate_launch(DIVERGENT, "divergent", (1, 1, 1), (32, 1, 1), [np.zeros(32, np.float32)])


def test_bad_source_and_arguments_are_clear_errors():
    with pytest.raises(EmulatorError, match="g\\+\\+ rejected kernel k"):
        emulate_launch('extern "C" __global__ void k(float* a) { a[0] = b; }', "k",
                       (1, 1, 1), (1, 1, 1), [np.zeros(1, np.float32)])
    x, y = rand(768), np.zeros(700, np.float32)
    with pytest.raises(EmulatorError, match="takes 3 arguments, got 2"):
        emulate_launch(REVERSE, "reverse", (3, 1, 1), (256, 1, 1), [x, y])
    with pytest.raises(EmulatorError, match="argument 1 must be a writeable C-contiguous float"):
        emulate_launch(REVERSE, "reverse", (3, 1, 1), (256, 1, 1), [x, y.astype(np.float64), 7])
    with pytest.raises(EmulatorError, match="argument 2 is by value"):
        emulate_launch(REVERSE, "reverse", (3, 1, 1), (256, 1, 1), [x, y, y])
