"""The command line as a user meets it: help, the main commands, one-line errors."""

import numpy as np
import onnx
import pytest
from onnx import helper
from typer.testing import CliRunner

from conftest import MODELS
from oracle import tensor_info
from tensorforge.cli import app

runner = CliRunner()
needs_models = pytest.mark.skipif(not MODELS.is_dir(), reason="shared models missing")


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "inspect" in result.output and "verify" in result.output


@needs_models
def test_inspect_shows_passes_and_kernels():
    result = runner.invoke(app, ["inspect", str(MODELS / "convbnrelu.onnx")])
    assert result.exit_code == 0, result.output
    assert "fold_batchnorm" in result.output
    assert "Conv" in result.output


@needs_models
def test_verify_against_npz_and_onnxruntime():
    args = ["verify", str(MODELS / "mlp.onnx")]
    result = runner.invoke(app, args + ["--data", str(MODELS / "mlp.npz")])
    assert result.exit_code == 0, result.output
    assert "yes" in result.output
    assert runner.invoke(app, args).exit_code == 0


def test_missing_file_is_one_line_error(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 2
    assert result.output.startswith("error: model file not found")
    assert "Traceback" not in result.output


def test_unsupported_operator_is_named(tmp_path):
    node = helper.make_node("NonZero", ["x"], ["y"], name="nz")
    graph = helper.make_graph([node], "g", [tensor_info("x", (3,), np.float32)],
                              [tensor_info("y", (1, 3), np.int64)])
    path = tmp_path / "nz.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = runner.invoke(app, ["verify", str(path)])
    assert result.exit_code == 2
    assert "NonZero (opset 17) at node 'nz'" in result.output


def test_bad_input_spec_is_explained(tmp_path):
    result = runner.invoke(app, ["inspect", "m.onnx", "--input", "x=8xz"])
    assert result.exit_code == 2
    assert "dimensions must be integers" in result.output


def test_ops_lists_converters():
    result = runner.invoke(app, ["ops", "--markdown"])
    assert result.exit_code == 0
    assert "| Conv |" in result.output and "| Reshape |" in result.output


def test_builtin_workload_names_work_like_files():
    result = runner.invoke(app, ["verify", "mlp"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["inspect", "nosuchmodel"])
    assert result.exit_code == 2
    assert "neither a file nor a built-in workload" in result.output


def test_bench_prints_table_and_writes_json(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["bench", "mlp", "--threads", "1", "--repeat", "3",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "onnxruntime" in result.output and "TF speedup" in result.output
    import json
    data = json.loads(out.read_text())
    assert data["threads"] == 1 and data["speedup"]["onnxruntime"] > 0
    assert data["max_abs_error"]["onnxruntime"] < 1e-3
    assert set(data["latency"]) == {"tensorforge", "onnxruntime"}


def test_bench_compares_a_tuned_build_with_the_untuned_one(tmp_path):
    from tensorforge.tuner import TuningDatabase
    db = tmp_path / "t.db"
    TuningDatabase(db).close()                       # no records: both builds use defaults
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["bench", "mlp", "--threads", "1", "--repeat", "3", "--db",
                                 str(db), "--compare", "untuned", "--json", str(out)])
    assert result.exit_code == 0, result.output
    import json
    data = json.loads(out.read_text())
    assert set(data["latency"]) == {"tensorforge", "untuned"}
    assert data["max_abs_error"]["untuned"] == 0.0   # same schedules, same bits
    result = runner.invoke(app, ["bench", "mlp", "--compare", "untuned"])
    assert result.exit_code == 2 and "give a tuning database" in " ".join(result.output.split())


def test_compile_then_run_a_module(tmp_path):
    from tensorforge import workloads
    model, feeds = workloads.get("mlp")
    np.savez(tmp_path / "x.npz", **feeds)
    module = tmp_path / "mlp.tfm"
    result = runner.invoke(app, ["compile", "mlp", "-o", str(module)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["run", str(module), "--data", str(tmp_path / "x.npz"),
                                 "--out", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    import onnxruntime as ort
    want = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["output_0"], want, rtol=1e-4,
                               atol=1e-5)


def test_run_shows_an_empty_output(tmp_path):
    """An empty output has no mean/min/max: its row says '-' (NumPy's min would raise)."""
    x = np.zeros((0, 3), np.float32)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "empty",
                              [tensor_info("x", x.shape, x.dtype)],
                              [tensor_info("y", x.shape, x.dtype)])
    onnx.save(helper.make_model(graph), tmp_path / "empty.onnx")
    np.savez(tmp_path / "x.npz", x=x)
    module = tmp_path / "empty.tfm"
    assert runner.invoke(app, ["compile", str(tmp_path / "empty.onnx"), "-o",
                               str(module)]).exit_code == 0
    result = runner.invoke(app, ["run", str(module), "--data", str(tmp_path / "x.npz"),
                                 "--out", str(tmp_path / "y.npz")])
    assert result.exit_code == 0, result.output
    assert "[0, 3]" in result.output and np.load(tmp_path / "y.npz")["output_0"].shape == (0, 3)


def test_mismatched_data_is_one_line_error(tmp_path):
    np.savez(tmp_path / "bad.npz", input=np.zeros((3, 3), np.float32))
    result = runner.invoke(app, ["bench", "mlp", "--data", str(tmp_path / "bad.npz")])
    assert result.exit_code == 2
    assert "input 'input'" in result.output and "Traceback" not in result.output


def test_bad_target_is_one_line_error():
    result = runner.invoke(app, ["compile", "mlp", "-o", "x.tfm", "--target", "llvm -mcpu=nosuch"])
    assert result.exit_code == 2
    assert "nosuch" in result.output
