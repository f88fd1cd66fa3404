"""Search strategies behind one interface: propose a batch, learn from its costs, repeat.

    tuner = XGBTuner(space, features=task.features)
    while tuner.has_next():
        configs = tuner.next_batch(8)
        tuner.update(configs, [measure(c) for c in configs])   # seconds; inf = failed

No tuner proposes a config twice (history loaded from the database counts as proposed).
GridTuner walks the indices in order, RandomTuner draws without replacement, XGBTuner
(AutoTVM's model-based tuner) fits the cost model to what was measured, runs simulated
annealing over the space scored by the model, and hands out the top predicted candidates,
with a fraction `epsilon` of random ones so that a wrong model still explores.
"""

from __future__ import annotations

import heapq
import math
from typing import Callable, Sequence

import numpy as np

from .cost_model import XGBCostModel
from .space import Config, ConfigSpace

ENUMERATE_BELOW = 1 << 16   # spaces this small draw unvisited points exactly, not by rejection


class Tuner:
    """Bookkeeping shared by every strategy; subclasses implement `_propose(n)` (indices)."""

    def __init__(self, space: ConfigSpace, seed: int = 0):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.visited: set[int] = set()
        self.best_config: Config | None = None
        self.best_cost = math.inf

    def has_next(self) -> bool:
        return len(self.visited) < len(self.space)

    def next_batch(self, n: int) -> list[Config]:
        """Up to `n` configs never proposed before (fewer when the space runs out)."""
        picked = self._propose(min(n, len(self.space) - len(self.visited)))
        self.visited.update(picked)
        return [self.space[i] for i in picked]

    def update(self, configs: Sequence[Config], costs: Sequence[float]) -> None:
        """Costs in seconds of measured configs; inf marks a failure."""
        for config, cost in zip(configs, costs):
            self.visited.add(self.space.index(config))
            if cost < self.best_cost:
                self.best_config, self.best_cost = config, cost

    def _propose(self, n: int) -> list[int]:
        raise NotImplementedError

    def _random_unvisited(self, n: int) -> list[int]:
        if len(self.space) <= ENUMERATE_BELOW:
            left = np.setdiff1d(np.arange(len(self.space)), list(self.visited), assume_unique=True)
            return [int(i) for i in self.rng.choice(left, size=min(n, len(left)), replace=False)]
        out: dict[int, None] = {}
        while len(out) < n:
            out.update((i, None) for i in self.space.sample(self.rng, n)
                       if i not in self.visited)
        return list(out)[:n]


class GridTuner(Tuner):
    """Every config in index order."""

    def __init__(self, space: ConfigSpace, seed: int = 0):
        super().__init__(space, seed)
        self._next = 0

    def _propose(self, n: int) -> list[int]:
        out = []
        while len(out) < n and self._next < len(self.space):
            if self._next not in self.visited:
                out.append(self._next)
            self._next += 1
        return out


class RandomTuner(Tuner):
    """Uniform draws without replacement."""

    def _propose(self, n: int) -> list[int]:
        return self._random_unvisited(n)


class XGBTuner(Tuner):
    """Model-guided search. `features(config) -> vector` (default: the knob values);
    `transfer` adds (features, costs, group) arrays of other workloads to every fit.

    Each update refits the model (once `min_train` configs are measured) and plans the next
    `plan_size` candidates by simulated annealing: `chains` points walk to random neighbours
    for up to `sa_steps` steps, accepted with probability exp(gain / temperature), the
    temperature falling linearly to 0; the best unvisited points seen form the plan."""

    def __init__(self, space: ConfigSpace, features: Callable[[Config], np.ndarray] | None = None,
                 seed: int = 0, plan_size: int = 32, epsilon: float = 0.05, min_train: int = 8,
                 chains: int = 64, sa_steps: int = 100, sa_patience: int = 20,
                 temperature: float = 1.0, model: XGBCostModel | None = None):
        super().__init__(space, seed)
        self.features = features or space.knob_vector
        self.model = model or XGBCostModel(seed=seed)
        self.plan_size, self.epsilon, self.min_train = plan_size, epsilon, min_train
        self.chains, self.sa_steps, self.sa_patience = chains, sa_steps, sa_patience
        self.temperature = temperature
        self.measured: dict[int, float] = {}
        self.transfer: tuple | None = None
        self.plan: list[int] = []
        self._cache: dict[int, np.ndarray] = {}

    def set_transfer(self, features, costs, groups) -> None:
        """Records of other workloads (groups >= 1) to train on besides this one's."""
        self.transfer = (np.asarray(features, np.float64), np.asarray(costs, np.float64),
                         np.asarray(groups, np.int64) + 1)

    def _vectors(self, indices) -> np.ndarray:
        for i in indices:
            if i not in self._cache:
                self._cache[i] = np.asarray(self.features(self.space[i]), dtype=np.float64)
        return np.stack([self._cache[i] for i in indices])

    def _score(self, indices) -> np.ndarray:
        return self.model.predict(self._vectors(indices))

    def update(self, configs, costs) -> None:
        super().update(configs, costs)
        self.measured.update((self.space.index(c), float(k)) for c, k in zip(configs, costs))
        if len(self.measured) >= self.min_train or self.transfer is not None:
            self._fit()
            self.plan = self._anneal()

    def _fit(self) -> None:
        idx = list(self.measured)
        parts = [self.transfer] if self.transfer is not None else []
        if idx:
            parts.insert(0, (self._vectors(idx), np.array([self.measured[i] for i in idx]),
                             np.zeros(len(idx), np.int64)))
        if parts:
            self.model.fit(*(np.concatenate(column) for column in zip(*parts)))

    def _propose(self, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            self.plan = [i for i in self.plan if i not in self.visited and i not in out]
            if self.plan and self.rng.random() >= self.epsilon:
                out.append(self.plan.pop(0))
                continue
            fresh = [i for i in self._random_unvisited(n) if i not in out]
            out.extend(fresh[:n - len(out)] if not self.plan else fresh[:1])
        return out

    def _anneal(self) -> list[int]:
        """The `plan_size` unvisited points of highest predicted score found by annealing."""
        if len(self.space) - len(self.visited) <= self.plan_size:
            left = self._random_unvisited(self.plan_size)
            return [left[k] for k in np.argsort(-self._score(left), kind="stable")] if left else []
        starts = self.plan[: self.chains // 2]
        points = np.array(starts + self.space.sample(self.rng, self.chains - len(starts)))
        scores = self._score(points.tolist())
        scale = float(np.std(scores)) or 1.0
        seen = dict(zip(points.tolist(), scores.tolist()))
        top: list = []                                    # min-heap of (score, index)
        self._keep_top(top, seen)
        still = 0
        for step in range(self.sa_steps):
            temp = self.temperature * (1 - step / self.sa_steps)
            moved = np.array([self.space.random_neighbour(int(p), self.rng) for p in points])
            new = self._score(moved.tolist())
            accept = np.exp(np.minimum((new - scores) / (scale * max(temp, 1e-5)), 0)) \
                > self.rng.random(len(points))
            points, scores = np.where(accept, moved, points), np.where(accept, new, scores)
            before = list(top)
            self._keep_top(top, dict(zip(moved.tolist(), new.tolist())))
            still = still + 1 if top == before else 0
            if still >= self.sa_patience:
                break
        return [i for _, i in sorted(top, reverse=True)]

    def _keep_top(self, heap: list, scored: dict) -> None:
        members = {i for _, i in heap}
        for i, s in scored.items():
            if i in self.visited or i in members:
                continue
            if len(heap) < self.plan_size:
                heapq.heappush(heap, (s, i))
                members.add(i)
            elif s > heap[0][0]:
                members.discard(heapq.heappushpop(heap, (s, i))[1])
                members.add(i)


TUNERS = {"grid": GridTuner, "random": RandomTuner, "xgb": XGBTuner}


def make_tuner(kind: str, space: ConfigSpace, **kwargs) -> Tuner:
    """A tuner by name ("grid", "random", "xgb")."""
    if kind not in TUNERS:
        raise ValueError(f"unknown tuner {kind!r}; choose from {sorted(TUNERS)}")
    return TUNERS[kind](space, **kwargs)
