"""XGBoost cost model: ranks candidate configs by predicted speed.

The model learns an order, not a time (objective rank:pairwise, AutoTVM's choice): the tuner
only needs to know which candidates are faster, and ranking within a workload (XGBoost query
groups) lets records of other workloads train the same model without their absolute times,
which differ by orders of magnitude, getting in the way. Labels are -log(cost); a failed
config ranks below every working one of its workload.
"""

from __future__ import annotations

import math

import numpy as np
import xgboost as xgb

PARAMS = {"objective": "rank:pairwise", "max_depth": 6, "eta": 0.3, "gamma": 0.0001,
          "min_child_weight": 1, "subsample": 1.0, "alpha": 0, "lambda": 1,
          "nthread": 1, "verbosity": 0}


def labels(costs: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """-log(cost) per record (costs below a picosecond count as one: a timer's zero);
    errors (inf cost) rank one below the worst success of their group."""
    costs = np.asarray(costs, dtype=np.float64)
    finite = np.isfinite(costs)
    out = np.where(finite, -np.log(np.maximum(np.where(finite, costs, 1.0), 1e-12)), np.nan)
    for g in np.unique(groups):
        mask = groups == g
        ok = out[mask][~np.isnan(out[mask])]
        floor = (ok.min() if ok.size else 0.0) - 1.0
        out[mask & np.isnan(out)] = floor
    return out


class XGBCostModel:
    """fit(features, costs, groups) then predict(features) -> scores (higher = faster).
    `groups` numbers the workloads; records only compare within their group."""

    def __init__(self, rounds: int = 60, seed: int = 0, **params):
        self.rounds = rounds
        self.params = {**PARAMS, "seed": seed, **params}
        self.booster: xgb.Booster | None = None

    @property
    def trained(self) -> bool:
        return self.booster is not None

    def fit(self, features, costs, groups=None) -> "XGBCostModel":
        x = np.asarray(features, dtype=np.float64)
        groups = np.zeros(len(x), dtype=np.int64) if groups is None else np.asarray(groups)
        y = labels(np.asarray(costs), groups)
        order = np.argsort(groups, kind="stable")       # XGBoost wants query groups contiguous
        dtrain = xgb.DMatrix(x[order], label=y[order], qid=groups[order])
        self.booster = xgb.train(self.params, dtrain, self.rounds)
        return self

    def predict(self, features) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if self.booster is None:
            return np.zeros(len(x))
        return self.booster.predict(xgb.DMatrix(x))


def rank_correlation(a, b) -> float:
    """Spearman correlation, for tests and reports on how well a model orders configs."""
    ra, rb = (np.argsort(np.argsort(np.asarray(v))) for v in (a, b))
    c = np.corrcoef(ra, rb)[0, 1]
    return 0.0 if math.isnan(c) else float(c)
