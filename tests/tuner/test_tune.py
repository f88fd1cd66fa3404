"""The tuning loop: every result recorded at once, Ctrl-C then resume without re-measuring,
early stopping, progress bar, transfer from other workloads' records."""

import io
from dataclasses import dataclass, field

import numpy as np
import pytest
from rich.console import Console
from tuning_tasks import bowl, bowl_space

from tensorforge.tuner import (ConfigSpace, MeasureResult, ProgressBar, RandomTuner,
                               TuningDatabase, XGBTuner, tune_task)


@dataclass(eq=False)
class BowlTask:
    """A task measured in-process: its cost is the synthetic bowl, scaled."""

    workload: str = "bowl"
    scale: float = 1.0
    target: str = "llvm"
    template: str = "bowl"
    flops: float = 1e9
    space: ConfigSpace = field(default_factory=bowl_space)

    def features(self, config):
        return self.space.knob_vector(config)


class FakeMeasure:
    """measure_fn that remembers what it measured."""

    def __init__(self):
        self.measured = []
        self.threads = None

    def __call__(self, task, configs):
        for c in configs:
            self.measured.append(task.space.index(c))
            yield MeasureResult(costs=(task.scale * bowl(c),), threads=self.threads)


@pytest.fixture
def db(tmp_path):
    with TuningDatabase(tmp_path / "t.db") as d:
        yield d


def interrupt_after(n):
    def cb(state, config, result):
        if state.measured == n:
            raise KeyboardInterrupt
    return cb


def test_ctrl_c_then_resume_measures_nothing_twice(db):
    task, first = BowlTask(), FakeMeasure()
    with pytest.raises(KeyboardInterrupt):
        tune_task(task, first, db, n_trials=40, tuner="xgb", callbacks=[interrupt_after(13)])
    assert len(db) == 13 and len(first.measured) == 13          # the 13th was committed
    second = FakeMeasure()
    state = tune_task(task, second, db, n_trials=40, tuner="xgb")
    assert not set(first.measured) & set(second.measured)
    assert len(second.measured) == 27 and state.trials == 40 and len(db) == 40
    assert state.best_cost == min(r.cost for r in db.records())
    # a finished task resumes to nothing
    third = FakeMeasure()
    tune_task(task, third, db, n_trials=40, tuner=RandomTuner(task.space))
    assert third.measured == []


def test_resume_counts_only_records_of_the_measurers_thread_count(db):
    task, one = BowlTask(), FakeMeasure()
    one.threads = 1
    tune_task(task, one, db, n_trials=5, tuner=RandomTuner(task.space, seed=1))
    two = FakeMeasure()
    two.threads = 2
    state = tune_task(task, two, db, n_trials=5, tuner=RandomTuner(task.space, seed=1))
    assert two.measured == one.measured and state.trials == 5 and len(db) == 10


def test_early_stopping(db):
    task = BowlTask(space=ConfigSpace({"a": list(range(20)), "b": [0], "c": [0], "d": [0]}))
    state = tune_task(task, FakeMeasure(), db, n_trials=20, early_stopping=3, batch_size=1,
                      tuner="grid")
    # costs fall until a == 7 (the optimum), then three trials without gain stop the search
    assert state.best_config["a"] == 7 and state.trials == 8 + 3


def test_progress_bar_reports_best_and_errors(db):
    out = io.StringIO()
    task = BowlTask(space=ConfigSpace({"a": [6, 7], "b": [2], "c": [5], "d": [0]}))
    with ProgressBar(console=Console(file=out, force_terminal=False, width=120)) as bar:
        tune_task(task, FakeMeasure(), db, n_trials=2, callbacks=[bar], tuner="grid")
    text = out.getvalue()
    assert "2/2" in text and "1000.00 GFLOP/s" in text and "errors 0" in text


def test_transfer_through_the_database(db):
    """Records of a similar workload steer the first batch of a new one."""
    other = BowlTask("bowl_big", scale=40.0)
    tune_task(other, FakeMeasure(), db, n_trials=200, tuner=RandomTuner(other.space, seed=3))
    task = BowlTask("bowl_new")
    tuner = XGBTuner(task.space, features=task.features, seed=0)
    measure = FakeMeasure()
    tune_task(task, measure, db, n_trials=8, tuner=tuner, transfer=[other])
    assert np.median([bowl(task.space[i]) for i in measure.measured]) < \
        np.quantile([bowl(c) for c in task.space], 0.05)
