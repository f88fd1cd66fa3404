"""Math intrinsics: vectorized polynomial exp/erf/tanh/sigmoid within float32 1e-6 relative."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from tensorforge.codegen.llvm_build import build
from tensorforge.compiler import tir

import tir_kernels

_erf = np.vectorize(math.erf)
REFERENCE = {"exp": np.exp, "erf": _erf, "tanh": np.tanh,
             "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "sqrt": np.sqrt, "fabs": np.abs,
             "floor": np.floor, "log": np.log}
DOMAIN = {"exp": (-100, 88), "erf": (-6, 6), "tanh": (-12, 12), "sigmoid": (-60, 60),
          "sqrt": (0, 1000), "fabs": (-10, 10), "floor": (-10, 10), "log": (1e-3, 1e3)}


def _kernel(name, n, dtype="float32", kind="vectorized"):
    return build(tir_kernels.unary(name, n, lambda x: tir.call(name, x), dtype, kind))


def _check(name, x, y):
    ref = REFERENCE[name](x.astype("f8"))
    tiny = np.abs(ref) < 1e-37  # denormal results: absolute error
    rel = np.abs(y - ref) / np.where(tiny, 1.0, np.abs(ref))
    assert rel.max() < 1e-6, f"{name}: max error {rel.max():.3g} at x={x[rel.argmax()]}"


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_accuracy_dense_grid(name):
    lo, hi = DOMAIN[name]
    x = np.linspace(lo, hi, 100_003).astype("f4")
    y = np.zeros_like(x)
    _kernel(name, x.size)(x, y)
    _check(name, x, y)


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 1100))
@example(1).via("edge")
@example(15).via("edge")
@example(17).via("edge")
@example(1000).via("edge")
def test_sizes_not_multiple_of_vector_width(n):
    for name in ("exp", "erf", "tanh"):
        lo, hi = DOMAIN[name]
        x = np.random.default_rng(n).uniform(lo, hi, n).astype("f4")
        y = np.zeros_like(x)
        _kernel(name, n)(x, y)
        _check(name, x, y)


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 89.0, -104.0, 1e-30], "f4")
    out = {}
    for name in ("exp", "tanh", "erf", "sigmoid"):
        out[name] = np.zeros_like(x)
        _kernel(name, x.size)(x, out[name])
    assert np.isnan(out["exp"][0]) and out["exp"][1] == np.inf and out["exp"][2] == 0
    assert list(out["exp"][3:6]) == [1, 1, np.inf]
    assert list(out["tanh"][1:3]) == [1, -1] and list(out["erf"][1:3]) == [1, -1]
    assert list(out["sigmoid"][1:3]) == [1, 0]


def test_scalar_loop_matches_vector_loop():
    x = np.linspace(-5, 5, 333).astype("f4")
    ys = []
    for kind in ("serial", "vectorized"):
        ys.append(np.zeros_like(x))
        _kernel("erf", x.size, kind=kind)(x, ys[-1])
    np.testing.assert_allclose(ys[0], ys[1], rtol=1e-6, atol=1e-7)


def test_float64_uses_libm_accuracy():
    x = np.linspace(-5, 5, 101)
    for name in ("exp", "erf", "tanh"):
        y = np.zeros_like(x)
        _kernel(name, x.size, "float64")(x, y)
        np.testing.assert_allclose(y, REFERENCE[name](x), rtol=1e-14, atol=1e-15)


def test_vector_exp_is_inlined_not_libm():
    asm = _kernel("exp", 64).source("asm")
    assert "expf" not in asm and "call" not in asm
