"""Float min/max on the CUDA backend follow the CPU backend's NaN rule (docs/robustness.md):
a NaN from either side propagates through Max, Min, Relu and Clip. Run by the emulated
device, compared bit for bit with the CPU backend on arrays of NaN, ±inf and finite values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tensorforge
from emulated_device import EmulatedDevice
from emulator import EMULATOR_AVAILABLE
from oracle import single_op_model

pytestmark = pytest.mark.skipif(not EMULATOR_AVAILABLE, reason="the CUDA emulator needs g++")

VALUES = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0, 7.0], np.float32)


def special_values(seed: int, shape: tuple) -> np.ndarray:
    """Every pairing of VALUES is likely: a NaN on the left, the right, or both sides."""
    return np.random.default_rng(seed).choice(VALUES, shape)


def assert_same_bits_on_cpu_and_cuda(model, feeds: dict):
    cpu = tensorforge.compile(model).run(**feeds)[0]
    cuda = tensorforge.compile(model, target="cuda", device=EmulatedDevice()).run(**feeds)[0]
    assert cuda.dtype == cpu.dtype == np.float32
    bad = np.flatnonzero(cuda.view(np.uint32) != cpu.view(np.uint32))
    assert bad.size == 0, (f"{model.graph.node[0].op_type}: CUDA differs from the CPU at "
                           f"{bad[:8]}: inputs {[f.reshape(-1)[bad[:8]] for f in feeds.values()]}"
                           f" CUDA {cuda.reshape(-1)[bad[:8]]} CPU {cpu.reshape(-1)[bad[:8]]}")


shapes = st.sampled_from([(7,), (4, 33), (2, 3, 40)])


@given(st.integers(0, 2 ** 16), shapes, st.sampled_from(["Max", "Min"]))
def test_max_min_propagate_nan_like_the_cpu(seed, shape, op):
    a, b = special_values(seed, shape), special_values(seed + 1, shape)
    assert_same_bits_on_cpu_and_cuda(single_op_model(op, {"a": a, "b": b}), {"a": a, "b": b})


@given(st.integers(0, 2 ** 16), shapes)
def test_relu_propagates_nan_like_the_cpu(seed, shape):
    x = special_values(seed, shape)
    assert_same_bits_on_cpu_and_cuda(single_op_model("Relu", {"x": x}), {"x": x})


@given(st.integers(0, 2 ** 16), shapes, st.sampled_from([(-1.0, 2.0), (0.0, np.inf)]))
def test_clip_propagates_nan_like_the_cpu(seed, shape, bounds):
    x = special_values(seed, shape)
    lo, hi = (np.array(v, np.float32) for v in bounds)
    model = single_op_model("Clip", {"x": x}, initializers={"lo": lo, "hi": hi})
    assert_same_bits_on_cpu_and_cuda(model, {"x": x})
