"""`tune`: tune every kernel of a model into a tuning database that `compile` reads.

    summary = tensorforge.tuner.tune("resnet18.onnx", "llvm", "tuning.db", trials=200)
    module = tensorforge.compile("resnet18.onnx", "llvm", tuning_db="tuning.db")

Tasks (tuner/extract.py) are tuned one after the other, the heaviest first. Each starts by
measuring the template's default config (the kernel `compile` builds untuned), so the summary
says what tuning gained and a tuned model is never slower than the default. Every result is
committed as it arrives: after Ctrl-C, the same call resumes, measuring no config twice.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from .database import TuningDatabase, config_key
from .extract import MIN_SPACE, extract_tasks
from .measure import measurer_for
from .node_task import NodeTask
from .search import TUNERS
from .tune import ProgressBar, record_of, tune_task


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome; GFLOP/s are 0.0 where nothing ran without error."""

    workload: str
    template: str
    weight: int
    space: int
    trials: int
    measured: int
    errors: int
    default_gflops: float
    best_gflops: float
    best_config: dict | None


@dataclass
class TuneSummary:
    target: str
    db: str
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def measured(self) -> int:
        return sum(t.measured for t in self.tasks)


def _gflops(task: NodeTask, cost: float) -> float:
    return task.flops / cost / 1e9 if math.isfinite(cost) else 0.0


def _default_cost(task: NodeTask, measure_fn: Callable, db: TuningDatabase) -> tuple[float, int]:
    """The default config's cost, measured and recorded unless the database has it (it counts
    as one of the task's trials); (inf, 0) when the default is outside the space."""
    default = task.default
    if default not in task.space:
        return float("inf"), 0
    threads = getattr(measure_fn, "threads", None)
    known = {r.config_key: r for r in db.records(task.target, task.workload, threads,
                                                 task.template)}
    record = known.get(config_key(default))
    if record is not None:
        return record.cost, 0
    result = next(iter(measure_fn(task, [default])))
    db.add(record_of(task, default, result))
    return result.cost, 1


def tune(model, target="llvm", db="tuning.db", trials: int = 200, tuner: str = "xgb",
         early_stopping: int | None = None, progress: bool = True,
         inputs: Mapping | None = None, measure_fn: Callable | None = None,
         min_space: int = MIN_SPACE, callbacks: Iterable[Callable] = (),
         tasks: list[NodeTask] | None = None) -> TuneSummary:
    """Tune each task of `model` (path, bytes, ModelProto or Graph) until `trials` configs of
    it are recorded in `db`, its space is exhausted, or `early_stopping` trials pass without
    a better one. `measure_fn(task, configs)` defaults to measurer_for(target) (worker processes);
    `callbacks` are tune_task's (state, config, result) callbacks; `tasks` overrides
    extraction (e.g. a subset of extract_tasks' result)."""
    if isinstance(tuner, str) and tuner not in TUNERS:
        raise ValueError(f"unknown tuner {tuner!r}; choose from {sorted(TUNERS)}")
    measure_fn = measure_fn or measurer_for(target)
    target = getattr(measure_fn, "target", target)  # a GPU measurer's "cuda -arch=sm_XX"
    tasks = extract_tasks(model, target, inputs, min_space) if tasks is None else tasks
    database = db if isinstance(db, TuningDatabase) else TuningDatabase(db)
    summary = TuneSummary(tasks[0].target if tasks else str(target), str(database.path))
    try:
        with ProgressBar() if progress else nullcontext() as bar:
            cbs = [*callbacks, bar] if bar is not None else list(callbacks)
            for task in tasks:
                summary.tasks.append(_tune_one(task, measure_fn, database, trials, tuner,
                                               early_stopping, cbs, _kin(task, tasks)))
    finally:
        if database is not db:
            database.close()
    return summary


def _kin(task, tasks) -> list:
    """The other tasks of `task`'s template: the cost model trains on their records too
    (transfer). Other templates' records mislead it (bench/tuning_curves.py: conv records
    made the GEMM's search slower, while conv -> conv found a config within 95% of the best
    in 1-5 trials instead of 14-35)."""
    return [t for t in tasks if t is not task and t.template == task.template]


def _tune_one(task, measure_fn, db, trials, tuner, early_stopping, callbacks,
              transfer) -> TaskResult:
    default_cost, default_measured = _default_cost(task, measure_fn, db)
    state = tune_task(task, measure_fn, db, trials, tuner=tuner, early_stopping=early_stopping,
                      callbacks=callbacks, transfer=transfer)
    return TaskResult(task.workload, task.template, task.weight, len(task.space), state.trials,
                      state.measured + default_measured, state.errors,
                      _gflops(task, default_cost), state.best_gflops, state.best_config)
