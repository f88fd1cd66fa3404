"""The tuning loop: propose, measure, record, learn, until the budget or patience runs out.

    db = TuningDatabase("tuning.db")
    with ProgressBar() as bar:
        state = tune_task(task, LocalMeasurer(), db, n_trials=200, tuner="xgb",
                          early_stopping=60, callbacks=[bar])

Every result, errors included, is committed to the database the moment it arrives, so Ctrl-C
loses nothing measured; the next run loads the task's records first and continues: configs
already recorded count against `n_trials` and are never measured again. Only records of the
measurer's thread count (its `threads` attribute, when it has one) count: a config timed on
one thread is measured again for two.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .database import Record, RecordWarning, TuningDatabase
from .search import Tuner, XGBTuner, make_tuner
from .space import Config
from .task import Task


@dataclass
class TuneState:
    """Progress of one task; callbacks receive it after each result."""

    task: Task
    n_trials: int
    trials: int = 0            # configs with a record, earlier runs included
    measured: int = 0          # measured in this run
    errors: int = 0
    best_cost: float = math.inf
    best_config: Config | None = None
    since_best: int = 0

    @property
    def best_gflops(self) -> float:
        return self.task.flops / self.best_cost / 1e9 if math.isfinite(self.best_cost) else 0.0

    def add(self, config: Config, cost: float, error: bool) -> None:
        self.trials += 1
        self.errors += error
        if cost < self.best_cost:
            self.best_cost, self.best_config, self.since_best = cost, config, 0
        else:
            self.since_best += 1


def _history(db: TuningDatabase, task: Task,
             threads: int | None = None) -> tuple[list[Config], list[float]]:
    """The task's recorded configs (latest record wins: records of its template) that belong
    to its space, of records measured with `threads` threads (any when None)."""
    latest: dict[str, tuple[Config, float]] = {}
    for r in db.records(task.target, task.workload, threads, task.template):
        if r.config in task.space:
            latest[r.config_key] = (r.config, r.cost)
        else:
            warnings.warn(f"{db.path}: record of {task.workload} has a config outside the "
                          f"task's space, ignored: {r.config}", RecordWarning, stacklevel=3)
    return [c for c, _ in latest.values()], [k for _, k in latest.values()]


def record_of(task: Task, config: Config, result) -> Record:
    """The database record of one MeasureResult."""
    return Record(task.target, task.workload, task.template, config, list(result.costs),
                  result.error, threads=result.threads)


def transfer_data(db: TuningDatabase, tasks: Sequence[Task], threads: int | None = None):
    """(features, costs, groups) of the recorded configs of other tasks, one group each, of
    records measured with `threads` threads (any when None): timings of another thread
    count would teach the model another machine."""
    xs, ys, gs = [], [], []
    for g, other in enumerate(tasks):
        configs, costs = _history(db, other, threads)
        xs += [other.features(c) for c in configs]
        ys += costs
        gs += [g] * len(configs)
    features = np.array(xs).reshape(len(xs), -1) if xs else np.zeros((0, 0))
    return features, np.array(ys), np.array(gs, dtype=np.int64)


def tune_task(task: Task, measure_fn: Callable, db: TuningDatabase, n_trials: int,
              tuner: Tuner | str = "xgb", early_stopping: int | None = None,
              callbacks: Iterable[Callable] = (), batch_size: int = 8,
              transfer: Sequence[Task] = ()) -> TuneState:
    """Tune until `n_trials` configs of the task are recorded, the space is exhausted, or
    `early_stopping` trials pass without a new best. `measure_fn(task, configs)` yields one
    MeasureResult per config; callbacks are called as cb(state, config, result)."""
    if isinstance(tuner, str):
        extra = {"features": task.features} if tuner == "xgb" and hasattr(task, "features") else {}
        tuner = make_tuner(tuner, task.space, **extra)
    threads = getattr(measure_fn, "threads", None)
    if transfer and isinstance(tuner, XGBTuner):
        data = transfer_data(db, transfer, threads)
        if len(data[0]):
            tuner.set_transfer(*data)
    state = TuneState(task, n_trials)
    configs, costs = _history(db, task, threads)
    for config, cost in zip(configs, costs):
        state.add(config, cost, not math.isfinite(cost))
    tuner.update(configs, costs)
    callbacks = list(callbacks)
    while state.trials < n_trials and tuner.has_next():
        if early_stopping is not None and state.since_best >= early_stopping:
            break
        batch = tuner.next_batch(min(batch_size, n_trials - state.trials))
        done, done_costs = [], []
        for config, result in zip(batch, measure_fn(task, batch)):
            db.add(record_of(task, config, result))
            done.append(config)
            done_costs.append(result.cost)
            state.measured += 1
            state.add(config, result.cost, result.error is not None)
            for cb in callbacks:
                cb(state, config, result)
        tuner.update(done, done_costs)
    return state


class ProgressBar:
    """A rich progress bar callback: trials, best GFLOP/s, errors."""

    def __init__(self, **progress_kwargs):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("best {task.fields[best]}"),
                                 TextColumn("errors {task.fields[errors]}"), TimeElapsedColumn(),
                                 **progress_kwargs)
        self._bars: dict = {}

    def __enter__(self) -> "ProgressBar":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, state: TuneState, config: Config, result) -> None:
        key = id(state)
        if key not in self._bars:
            self._bars[key] = self.progress.add_task(state.task.workload[:40],
                                                     total=state.n_trials, best="-", errors=0)
        self.progress.update(self._bars[key], completed=state.trials, errors=state.errors,
                             best=f"{state.best_gflops:.2f} GFLOP/s")
