"""An alternative template (Winograd conv) is tuned as a task of its own beside the node's
default template, under the same workload key: its configs are checked against the default
kernel's output, and compile uses it when its record is the fastest."""

import numpy as np

import tensorforge
from tensorforge.codegen.llvm_build import num_threads
from tensorforge.compiler import GraphBuilder
from tensorforge.tuner import LocalMeasurer, Record, TuningDatabase
from tensorforge.tuner.extract import extract_tasks

W = (np.random.default_rng(2).standard_normal((24, 16, 3, 3)) / 12).astype(np.float32)


def conv_graph():
    """Relu(Conv3x3(x)): 16 -> 24 channels on 10x10, padded."""
    b = GraphBuilder("conv")
    x = b.input("x", (1, 16, 10, 10), "float32")
    y = b.emit1("Conv", [x, b.const(W, "w")],
                {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 1})
    return b.build([b.emit1("Relu", [y])])


def reference(x):
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((1, 24, 10, 10))
    for i in range(3):
        for j in range(3):
            out += np.einsum("kc,nchw->nkhw", W[:, :, i, j], pad[:, :, i:i + 10, j:j + 10])
    return np.maximum(out, 0)


def test_winograd_is_a_task_beside_the_direct_conv():
    tasks = {t.template: t for t in extract_tasks(conv_graph(), "llvm")}
    assert set(tasks) == {"conv2d_nchwc", "conv2d_winograd"}
    direct, wino = tasks["conv2d_nchwc"], tasks["conv2d_winograd"]
    assert wino.workload == direct.workload and wino.weight == direct.weight == 1
    assert wino.default["template"] == "conv2d_winograd" and wino.default in wino.space
    assert all(c["template"] == "conv2d_winograd" for c in wino.space)


def test_winograd_configs_measure_against_the_direct_conv():
    wino = next(t for t in extract_tasks(conv_graph(), "llvm") if t.template != "conv2d_nchwc")
    measurer = LocalMeasurer(timeout=60, repeat=1)
    for m in (2, 4):
        result = measurer.measure_one(wino, {**wino.default, "m": m})
        assert result.error is None and result.cost > 0
    args = wino.arguments()
    np.testing.assert_allclose(wino.reference(args)[0], reference(args[0]), rtol=1e-4,
                               atol=1e-4)   # the reference is the direct conv's


def test_compile_takes_the_fastest_record_of_either_template(tmp_path):
    tasks = {t.template: t for t in extract_tasks(conv_graph(), "llvm")}
    direct, wino = tasks["conv2d_nchwc"], tasks["conv2d_winograd"]
    path = tmp_path / "tuning.db"
    with TuningDatabase(path) as db:
        for task, cost in ((direct, 2e-5), (wino, 1e-5)):
            db.add(Record(task.target, task.workload, task.template, task.default, [cost],
                          threads=num_threads()))
    module = tensorforge.compile(conv_graph(), "llvm", tuning_db=path)
    (kernel,) = [k for k in module.kernels if k.workload == wino.workload]
    assert kernel.template == "conv2d_winograd" and kernel.config == wino.default
    x = np.random.default_rng(0).standard_normal((1, 16, 10, 10)).astype(np.float32)
    np.testing.assert_allclose(module.run(x)[0], reference(x), rtol=1e-4, atol=1e-4)


def test_tuning_both_tasks_reads_only_its_own_records(tmp_path):
    """Resuming the Winograd task skips the direct task's records of the same workload (not
    a warning about configs outside its space), and the reverse."""
    import warnings

    from tensorforge.tuner import tune
    path = tmp_path / "tuning.db"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):   # the second run resumes from the records of the first
            summary = tune(conv_graph(), "llvm", path, trials=3, tuner="random",
                           progress=False, measure_fn=LocalMeasurer(timeout=60, repeat=1))
            assert {t.template for t in summary.tasks} == {"conv2d_nchwc", "conv2d_winograd"}
    with TuningDatabase(path) as db:
        assert {r.template for r in db.records()} == {"conv2d_nchwc", "conv2d_winograd"}
        assert len(db.records()) == 6


def test_tune_summary_rates_winograd_against_the_untuned_direct_conv():
    from rich.console import Console

    from tensorforge.cli_tune import _summary_table
    from tensorforge.tuner.api import TaskResult, TuneSummary
    key = "Conv|float32[1, 64, 56, 56]->float32[1, 64, 56, 56]|Conv+Relu|llvm|0"
    summary = TuneSummary("llvm", "t.db", [
        TaskResult(key, "conv2d_nchwc", 2, 2160, 24, 24, 0, 200.0, 210.0, {}),
        TaskResult(key, "conv2d_winograd", 2, 24, 24, 24, 0, 90.0, 400.0, {})])
    console = Console(width=200, record=True)
    console.print(_summary_table(summary))
    rows = [line for line in console.export_text().splitlines() if "Conv+Relu" in line]
    assert "conv2d_nchwc" in rows[0] and "1.05x" in rows[0]
    assert "conv2d_winograd" in rows[1] and "200.00" in rows[1] and "2.00x" in rows[1]
