"""Tuners on synthetic cost functions: each finds the optimum, none repeats a config, and
the model-based tuner needs fewer trials than random search on a structured function."""

import math
import statistics

import numpy as np
import pytest

from tuning_tasks import bowl, bowl_space

from tensorforge.tuner import (ConfigSpace, GridTuner, RandomTuner, XGBCostModel, XGBTuner,
                               make_tuner)
from tensorforge.tuner.cost_model import labels, rank_correlation

def trials_to_optimum(tuner, cost, budget: int, batch: int = 16) -> int:
    """Trials until the tuner measures the optimum (budget + 1 if it never does)."""
    best, trials, seen = min(cost(c) for c in tuner.space), 0, set()
    while trials < budget and tuner.has_next():
        configs = tuner.next_batch(min(batch, budget - trials))
        keys = [tuner.space.index(c) for c in configs]
        assert not seen & set(keys) and len(set(keys)) == len(keys), "a config came twice"
        seen |= set(keys)
        costs = [cost(c) for c in configs]
        tuner.update(configs, costs)
        for k, c in enumerate(costs):
            if c == best:
                return trials + k + 1
        trials += len(configs)
    return budget + 1


@pytest.mark.parametrize("kind", ["grid", "random", "xgb"])
def test_each_tuner_finds_the_optimum_of_a_small_space(kind):
    space = bowl_space(values=3)      # 81 configs; the optimum of a 3-value bowl is in reach
    small = lambda c: 1e-3 * (1 + sum((c[k] - 1) ** 2 for k in c))   # noqa: E731
    tuner = make_tuner(kind, space)
    assert trials_to_optimum(tuner, small, budget=81) <= 81
    assert tuner.best_cost == pytest.approx(1e-3)


@pytest.mark.parametrize("cls", [GridTuner, RandomTuner, XGBTuner])
def test_exhausts_the_space_without_repeats(cls):
    space = ConfigSpace({"x": [1, 2, 3], "y": ["a", "b", "c", "d", "e"]})
    tuner = cls(space, min_train=2) if cls is XGBTuner else cls(space)
    seen = []
    while tuner.has_next():
        batch = tuner.next_batch(4)
        seen += [space.index(c) for c in batch]
        tuner.update(batch, [float(space.index(c) % 7) for c in batch])
    assert sorted(seen) == list(range(15))
    assert tuner.next_batch(4) == []


def test_history_counts_as_visited():
    space = bowl_space(values=2)
    tuner = RandomTuner(space)
    tuner.update([space[0], space[3]], [1.0, math.inf])
    proposed = [space.index(c) for c in tuner.next_batch(100)]
    assert sorted(proposed) == [i for i in range(16) if i not in (0, 3)]
    assert tuner.best_config == space[0]


def test_xgb_beats_random_on_a_structured_function():
    """Median trials to the optimum of a 10^4-point bowl over 3 seeds."""
    space, budget = bowl_space(), 400
    xgb = [trials_to_optimum(XGBTuner(space, seed=s), bowl, budget) for s in range(3)]
    rnd = [trials_to_optimum(RandomTuner(space, seed=s), bowl, budget) for s in range(3)]
    assert statistics.median(xgb) <= budget < statistics.median(rnd), (xgb, rnd)


def test_cost_model_ranks_held_out_configs():
    space = bowl_space()
    rng = np.random.default_rng(0)
    idx = rng.choice(len(space), 400, replace=False)
    x = np.stack([space.knob_vector(space[i]) for i in idx])
    y = np.array([bowl(space[i]) for i in idx])
    model = XGBCostModel().fit(x[:200], y[:200])
    assert rank_correlation(model.predict(x[200:]), -y[200:]) > 0.7


def test_transfer_from_another_workload_helps_a_cold_start():
    """A model trained only on a shifted copy of the bowl (another 'workload', other
    absolute times) already ranks this workload's configs."""
    space = bowl_space()
    rng = np.random.default_rng(1)
    idx = rng.choice(len(space), 300, replace=False)
    x = np.stack([space.knob_vector(space[i]) for i in idx])
    other = np.array([50 * bowl(space[i]) for i in idx])
    tuner = XGBTuner(space, seed=0)
    tuner.set_transfer(x, other, np.zeros(len(x), np.int64))
    tuner.update([], [])                          # trains on transfer data alone
    first = tuner.next_batch(16)
    assert min(bowl(c) for c in first) < np.quantile([bowl(space[i]) for i in idx], 0.05)


def test_error_labels_rank_below_successes():
    y = labels(np.array([1e-3, math.inf, 2e-3, math.inf, 5.0]), np.array([0, 0, 0, 1, 1]))
    assert y[1] < min(y[0], y[2]) and y[3] < y[4]
    assert y[0] > y[2]
