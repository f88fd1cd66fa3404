"""Measurement in worker processes: crashes, hangs, wrong answers and exceptions become
error records and tuning goes on; a real loop-IR GEMM is measured and checked."""

import pytest
from tuning_tasks import SleepTask, ThreadCountTask, gemm_task

from tensorforge.tuner import LocalMeasurer, RandomTuner, TuningDatabase, XGBTuner, tune_task

TIMEOUT = 3.0       # synthetic kernels only (loose: a loaded CI machine starts workers slowly)


@pytest.fixture(scope="module")
def measure():
    return LocalMeasurer(timeout=TIMEOUT, repeat=2, min_repeat_ms=5)


def test_good_kernel_is_timed(measure):
    task = SleepTask(delays=(4,))
    (result,) = measure(task, [{"delay": 4, "fault": "none"}])
    assert result.error is None and len(result.costs) == 2
    assert 4e-3 <= result.cost == min(result.costs) < 1.0


@pytest.mark.parametrize("fault, message", [
    ("segfault", "worker crashed (signal SIGSEGV)"),
    ("hang", f"timeout: no result within {TIMEOUT:g} s"),
    ("wrong", "wrong result: output 0 differs from the reference (max abs error 7.0)"),
    ("raise", "RuntimeError: kernel refused"),
    ("build", "build failed: ValueError: no such kernel"),
])
def test_failures_become_errors(measure, fault, message):
    (result,) = measure(SleepTask(faults=(fault,)), [{"delay": 1, "fault": fault}])
    assert result.error == message and result.costs == ()
    assert result.cost == float("inf")


def test_tuning_survives_crashes_and_hangs(measure, tmp_path):
    task = SleepTask(delays=(1, 8), faults=("none", "segfault", "hang", "wrong"))
    with TuningDatabase(tmp_path / "t.db") as db:
        state = tune_task(task, measure, db, n_trials=8, tuner=RandomTuner(task.space))
        records = db.records()
        assert len(records) == 8 and state.errors == 6
        assert db.best(task.target, task.workload).config == {"delay": 1, "fault": "none"}
    assert state.best_config == {"delay": 1, "fault": "none"}


def test_tune_a_real_gemm_kernel(tmp_path):
    """tests/codegen's GEMM micro-kernel with its register tile as knobs, odd sizes."""
    measure = LocalMeasurer(timeout=30, repeat=2, min_repeat_ms=5)
    task = gemm_task(37, 45, 29)
    with TuningDatabase(tmp_path / "t.db") as db:
        tuner = XGBTuner(task.space, features=task.features, min_train=4)
        state = tune_task(task, measure, db, n_trials=6, tuner=tuner, batch_size=3)
        assert state.errors == 0 and state.trials == 6
        assert state.best_gflops > 0
        best = db.best("llvm", task.workload)
        assert best.config == state.best_config and len(best.costs) == 2


@pytest.mark.parametrize("threads", [1, 3])
def test_kernels_run_with_the_measurers_thread_count(tmp_path, threads):
    measure = LocalMeasurer(timeout=TIMEOUT, repeat=1, threads=threads)
    task = ThreadCountTask(threads=threads)
    with TuningDatabase(tmp_path / "t.db") as db:
        tune_task(task, measure, db, n_trials=1, tuner=RandomTuner(task.space))
        (record,) = db.records()
    assert record.error is None and record.threads == threads
