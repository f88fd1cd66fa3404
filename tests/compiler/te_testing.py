"""Helpers for the te / schedule tests: build a lowered schedule and compare with numpy."""

from __future__ import annotations

import numpy as np

import tensorforge.codegen as codegen
from tensorforge.compiler import te


def run(s, args, inputs: dict, name: str = "k"):
    """Lower `s` with `args`, build for the host, feed `inputs` (tensor -> array); returns
    the outputs (the args not in `inputs`) as a list, and the PrimFunc."""
    func = te.lower(s, args, name=name)
    kernel = codegen.build(func)
    fill = lambda t: np.full(t.shape, np.nan if "float" in t.dtype else 7, t.dtype)
    arrays = [inputs[t] if t in inputs else fill(t) for t in args]
    kernel(*arrays)
    return [a for t, a in zip(args, arrays) if t not in inputs], func


def rand(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def close(got, want, k: int = 1):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(k, 1))
