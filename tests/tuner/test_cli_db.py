"""`tensorforge db ...` as a user meets it, mounted the way cli.py mounts it."""

import json

import pytest
import typer
from typer.testing import CliRunner

from tensorforge.cli_db import db_app
from tensorforge.tuner import Record, TuningDatabase

app = typer.Typer()
app.add_typer(db_app, name="db")
runner = CliRunner()


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "tuning.db"
    with TuningDatabase(path) as db:
        db.add(Record("llvm", "dense_64", "dense", {"tile": 4}, [2e-3]))
        db.add(Record("llvm", "dense_64", "dense", {"tile": 8}, [1e-3]))
        db.add(Record("llvm", "dense_64", "dense", {"tile": 16}, error="timeout"))
        db.add(Record("llvm", "conv_3x3", "conv", {"block": 2}, [5e-3]))
    return path


def run(*args):
    result = runner.invoke(app, ["db", *map(str, args)])
    return result.exit_code, result.output


def test_stats(db_path):
    code, out = run("stats", db_path)
    assert code == 0, out
    assert "dense_64" in out and "conv_3x3" in out and "4 records" in out
    assert "1.0000" in out and "5.0000" in out


def test_best(db_path):
    code, out = run("best", db_path, "--workload", "dense_64")
    assert code == 0, out
    assert '{"tile":8}' in out and "conv_3x3" not in out
    code, out = run("best", db_path, "--workload", "nothing")
    assert code == 2 and "error:" in out and "nothing" in out


def test_export_import(db_path, tmp_path):
    lines = tmp_path / "records.jsonl"
    code, out = run("export", db_path, lines, "--workload", "dense_64")
    assert code == 0 and "exported 3 records" in out
    assert {json.loads(x)["config"]["tile"] for x in lines.read_text().splitlines()} == {4, 8, 16}
    fresh = tmp_path / "fresh.db"
    assert "imported 3 records" in run("import", fresh, lines)[1]
    assert "imported 0 records" in run("import", fresh, lines)[1] and "3 skipped" in \
        run("import", fresh, lines)[1]


def test_missing_or_corrupt_database_is_one_line_error(tmp_path):
    code, out = run("stats", tmp_path / "none.db")
    assert code == 2 and "no tuning database at" in out
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 200)
    code, out = run("best", bad)
    assert code == 2 and "bad.db" in out and "corrupt" in out and "Traceback" not in out
