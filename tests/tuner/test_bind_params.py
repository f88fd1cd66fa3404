"""bind_params: how a task artifact's constants and a worker's arguments become a kernel's
params, the one merge the CPU worker (NodeTask.load) and the GPU one (DeviceRun) share."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.tuner.node_task import Scratch, allocate_scratch, bind_params


@given(st.lists(st.booleans(), max_size=8), st.integers(0, 4))
def test_args_fill_the_free_slots_in_order_then_follow(is_free, extra):
    constants = tuple(None if free else f"c{k}" for k, free in enumerate(is_free))
    args = [f"a{k}" for k in range(sum(is_free) + extra)]
    params, slots = bind_params(constants, args)
    assert len(params) == len(constants) + extra
    assert [params[s] for s in slots] == args                       # each arg where it went
    assert [p for p in params if p.startswith("a")] == args         # in order
    assert all(params[k] == c for k, c in enumerate(constants) if c is not None)


def test_a_bare_function_takes_every_argument_in_order():
    assert bind_params((), ["x", "y"]) == (["x", "y"], [0, 1])


def test_too_few_arguments_is_an_error_not_a_null_pointer():
    with pytest.raises(ValueError, match="takes 2 arguments, got 1"):
        bind_params((None, "w", None), ["x"])


def test_scratch_becomes_an_array_once():
    w = np.ones(3, np.float32)
    loaded = allocate_scratch((None, w, None, Scratch((2, 5), "float64")))
    assert loaded[:3] == (None, w, None)
    assert loaded[3].shape == (2, 5) and loaded[3].dtype == np.float64
    params, _ = bind_params(loaded, ["x", "y"])
    assert params[3] is loaded[3]   # the same scratch every call
