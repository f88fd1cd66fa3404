"""`tune` on a real (small) model with the real measurer: records land in the database, Ctrl-C
then rerun measures nothing twice, `compile` picks the best configs up, and the CLI command."""

import logging

import numpy as np
import onnx
import pytest
import typer
from typer.testing import CliRunner

import tensorforge
from tensorforge.cli_tune import tune as tune_cmd
from tensorforge.compiler import GraphBuilder
from tensorforge.tuner import LocalMeasurer, Record, TuningDatabase, tune
from tensorforge.tuner.database import config_key

W = np.random.default_rng(1).standard_normal((24, 40)).astype(np.float32)


def small_graph():
    """Relu(x @ W): one dense task."""
    b = GraphBuilder("small")
    x = b.input("x", (12, 24), "float32")
    return b.build([b.emit1("Relu", [b.emit1("MatMul", [x, b.const(W, "w")])])])


class Recording:
    """A LocalMeasurer that remembers every config it measured."""

    def __init__(self):
        self.inner, self.seen = LocalMeasurer(timeout=20, repeat=1), []

    def __call__(self, task, configs):
        for c in configs:
            self.seen.append(config_key(c))
            yield self.inner.measure_one(task, c)


def interrupt_after(n):
    def cb(state, config, result):
        if state.measured == n:
            raise KeyboardInterrupt
    return cb


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "tuning.db"
    summary = tune(small_graph(), "llvm", path, trials=6, tuner="xgb", progress=False,
                   measure_fn=Recording())
    return path, summary


def test_tune_records_every_trial(tuned):
    path, summary = tuned
    (task,) = summary.tasks
    assert task.template == "dense" and task.weight == 1 and task.space > 100
    assert task.trials == task.measured == 6 and task.errors == 0
    assert task.best_gflops >= task.default_gflops > 0
    with TuningDatabase(path) as db:
        records = db.records()
        assert len(records) == 6 and len({r.config_key for r in records}) == 6
        assert db.best(summary.target, task.workload).config == task.best_config


def test_compile_uses_the_best_configs(tuned):
    path, summary = tuned
    (task,) = summary.tasks
    module = tensorforge.compile(small_graph(), "llvm", tuning_db=path)
    (kernel,) = [k for k in module.kernels if k.workload == task.workload]
    assert kernel.config == task.best_config
    x = np.random.default_rng(0).standard_normal((12, 24)).astype(np.float32)
    np.testing.assert_allclose(module.run(x)[0], np.maximum(x @ W, 0), rtol=1e-4, atol=1e-4)


def test_compile_looks_up_records_of_its_thread_count(tmp_path, monkeypatch, caplog):
    from tensorforge.api import load_best_configs
    from tensorforge.codegen import Target
    target = Target.parse("llvm")
    with TuningDatabase(tmp_path / "t.db") as db:
        for workload, tile, cost, threads in (("w", 1, 1e-3, 1), ("w", 2, 2e-3, 2),
                                              ("v", 3, 1e-3, 1), ("v", 4, 3e-3, None)):
            db.add(Record(str(target), workload, "dense", {"tile": tile}, [cost],
                          threads=threads))
    monkeypatch.setenv("TENSORFORGE_NUM_THREADS", "2")
    with caplog.at_level(logging.DEBUG, logger="tensorforge"):
        configs = load_best_configs(tmp_path / "t.db", target)
    assert configs == {"w": {"tile": 2}, "v": {"tile": 3}}        # v: none at 2 threads
    assert "v: no record measured with 2 threads; using one measured with 1" in caplog.text
    assert "w:" not in caplog.text
    assert load_best_configs(tmp_path / "t.db", target, threads=1)["w"] == {"tile": 1}


def test_ctrl_c_then_rerun_resumes(tmp_path):
    path, first, second = tmp_path / "t.db", Recording(), Recording()
    with pytest.raises(KeyboardInterrupt):
        tune(small_graph(), "llvm", path, trials=5, progress=False, measure_fn=first,
             callbacks=[interrupt_after(2)])
    with TuningDatabase(path) as db:
        assert len(db) == len(first.seen) == 3            # the default, then 2 searched
    summary = tune(small_graph(), "llvm", path, trials=5, progress=False, measure_fn=second)
    assert not set(first.seen) & set(second.seen) and len(second.seen) == 2
    with TuningDatabase(path) as db:
        assert sorted(r.config_key for r in db.records()) == sorted(first.seen + second.seen)
    assert summary.tasks[0].trials == 5


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command()(tune_cmd)
    app.command("other")(lambda: None)  # two commands: invoked by name, as under `tensorforge`
    return app


def test_cli_tunes_an_onnx_file(cli, tmp_path):
    from oracle import single_op_model
    model = single_op_model("MatMul", {"x": np.zeros((8, 24), np.float32)}, initializers={"w": W})
    onnx.save(model, tmp_path / "mm.onnx")
    db = tmp_path / "t.db"
    result = CliRunner().invoke(cli, ["tune", str(tmp_path / "mm.onnx"), "--trials", "3",
                                      "--db", str(db), "--tuner", "random", "--threads", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())           # rich wraps lines at the terminal width
    assert "mm.onnx: 1 tasks to tune" in text and "(GFLOP/s)" in text
    assert "untuned ┃ best ┃ speedup" in text and "x │" in text    # the summary table
    with TuningDatabase(db) as d:
        assert len(d) == 3
        assert {r.threads for r in d.records()} == {1}       # --threads reached the measurer


@pytest.mark.parametrize("args, message", [
    (["no_such_model"], "neither a file nor a built-in workload"),
    (["mlp", "--tuner", "annealing"], "unknown tuner"),
])
def test_cli_errors_are_one_line(cli, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["tune", *args, "--db", str(tmp_path / "t.db")])
    assert result.exit_code == 2 and message in result.output


def test_tune_trains_each_task_on_its_templates_other_tasks(tmp_path, monkeypatch):
    """Transfer: the cost model of a task sees the records of the model's other tasks of the
    same template (another template's records mislead it, docs/tuning.md)."""
    from tensorforge.tuner import api
    b = GraphBuilder("two")
    x = b.input("x", (12, 24), "float32")
    h = b.emit1("Relu", [b.emit1("MatMul", [x, b.const(W, "w1")])])
    w2 = np.random.default_rng(3).standard_normal((40, 16)).astype(np.float32)
    graph = b.build([b.emit1("MatMul", [h, b.const(w2, "w2")])])
    seen = []

    def spy(task, *args, transfer=(), **kwargs):
        seen.append((task.workload, [t.workload for t in transfer]))
        return real(task, *args, transfer=transfer, **kwargs)
    real = api.tune_task
    monkeypatch.setattr(api, "tune_task", spy)
    summary = tune(graph, "llvm", tmp_path / "t.db", trials=2, tuner="xgb", progress=False,
                   measure_fn=Recording())
    first, second = (t.workload for t in summary.tasks)
    assert seen == [(first, [second]), (second, [first])]
