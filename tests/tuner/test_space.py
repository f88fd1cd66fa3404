"""Config spaces: index <-> config, sampling, neighbours, JSON configs, clear errors."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.tuner import ConfigSpace, SpaceError

knob_sizes = st.lists(st.integers(1, 5), min_size=0, max_size=4)


# bools, ints and floats that compare equal in Python (True == 1 == 1.0) are distinct knobs
VALUES = [[1, 2, 4, 8, 16], ["a", "b", "c", "d", "e"], [True, False, 1, 0, 1.0],
          [0.5, 1.5, 2.5, 3, 7]]


def make_space(sizes):
    return ConfigSpace({f"k{n}": VALUES[n % 4][:s] for n, s in enumerate(sizes)})


@given(knob_sizes, st.data())
def test_index_config_round_trip(sizes, data):
    space = make_space(sizes)
    assert len(space) == int(np.prod(space.sizes))
    i = data.draw(st.integers(0, len(space) - 1))
    config = space[i]
    assert space.index(config) == i
    assert space.index(json.loads(json.dumps(config))) == i     # configs survive JSON
    assert config in space


def test_every_index_is_a_distinct_config():
    space = ConfigSpace({"a": [1, 2, 3], "b": ["x", "y"], "c": [True]})
    configs = [json.dumps(c, sort_keys=True) for c in space]
    assert len(set(configs)) == len(space) == 6
    assert space[0] == {"a": 1, "b": "x", "c": True}
    assert space[1] == {"a": 1, "b": "y", "c": True}          # last knob varies fastest


@given(knob_sizes, st.data())
def test_neighbours_change_one_knob(sizes, data):
    space = make_space(sizes)
    i = data.draw(st.integers(0, len(space) - 1))
    near = space.neighbours(i)
    assert len(near) == len(set(near)) == sum(s - 1 for s in space.sizes)
    for j in near:
        assert sum(a != b for a, b in zip(space.digits(i), space.digits(j))) == 1
    rng = np.random.default_rng(0)
    j = space.random_neighbour(i, rng)
    assert j in near or (not near and j == i)


def test_sampling_covers_a_space_of_billions_without_enumeration():
    space = ConfigSpace({f"k{n}": list(range(10)) for n in range(12)})
    assert len(space) == 10 ** 12
    picks = space.sample(np.random.default_rng(1), 100)
    assert all(0 <= p < len(space) for p in picks) and len(set(picks)) > 95
    assert space.index(space[picks[0]]) == picks[0]


def test_knob_vector():
    space = ConfigSpace({"tile": [4, 8], "order": ["ij", "ji"], "unroll": [False, True]})
    assert space.knob_vector({"tile": 8, "order": "ji", "unroll": True}).tolist() == [8, 1, 1]


@pytest.mark.parametrize("knobs, match", [
    ({"a": []}, "no candidate"),
    ({"a": [[1, 2]]}, "not a JSON scalar"),
    ({"a": [1, 1]}, "twice"),
])
def test_bad_space(knobs, match):
    with pytest.raises(SpaceError, match=match):
        ConfigSpace(knobs)


def test_config_outside_space():
    space = ConfigSpace({"a": [1, 2]})
    with pytest.raises(SpaceError, match="not one of"):
        space.index({"a": 3})
    with pytest.raises(SpaceError, match="differ"):
        space.index({"b": 1})
    with pytest.raises(SpaceError, match="outside"):
        space[2]
