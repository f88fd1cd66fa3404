"""The tuning database: queries, concurrent writers, corrupt rows and files, JSON lines."""

import io
import json
import multiprocessing
import sqlite3

import pytest
from tuning_tasks import insert_many

from tensorforge.tuner import DatabaseError, Record, RecordWarning, TuningDatabase
from tensorforge.tuner.database import SCHEMA_VERSION


def rec(workload="w", cost=None, error=None, **config):
    return Record("llvm", workload, "dense", config or {"tile": 1},
                  [] if cost is None else [cost, cost], error)


@pytest.fixture
def db(tmp_path):
    with TuningDatabase(tmp_path / "t.db") as d:
        yield d


def test_best_records_and_stats(db):
    db.add(rec(cost=3e-3, tile=1))
    db.add(rec(cost=1e-3, tile=2))
    db.add(rec(error="timeout", tile=3))
    db.add(rec("other", cost=5e-4, tile=1))
    assert db.best("llvm", "w").config == {"tile": 2}
    assert db.best("llvm", "w").mean_cost == pytest.approx(1e-3)
    assert db.best("llvm", "missing") is None
    assert db.best("cuda", "w") is None
    assert [r.config["tile"] for r in db.records("llvm", "w")] == [1, 2, 3]
    assert len(db.records()) == len(db) == 4
    stats = {s.workload: s for s in db.stats()}
    assert (stats["w"].records, stats["w"].errors) == (3, 1)
    assert stats["w"].best_cost == pytest.approx(1e-3)
    assert stats["other"].records == 1


def test_error_records_never_best(db):
    db.add(rec(error="worker crashed (signal SIGSEGV)"))
    assert db.best("llvm", "w") is None
    (r,) = db.records()
    assert r.error.startswith("worker crashed") and r.costs == []


def test_record_is_committed_when_add_returns(db):
    db.add(rec(cost=1e-3))
    other = sqlite3.connect(db.path)
    assert other.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
    other.close()


def test_two_processes_lose_no_record(tmp_path):
    path = str(tmp_path / "shared.db")
    TuningDatabase(path).close()
    ctx = multiprocessing.get_context("forkserver")
    procs = [ctx.Process(target=insert_many, args=(path, 200, tag)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with TuningDatabase(path) as db:
        rows = db.records()
    assert len(rows) == 400
    assert {(r.config["tag"], r.config["k"]) for r in rows} == \
        {(t, k) for t in "ab" for k in range(200)}


def raw_insert(path, **overrides):
    row = dict(zip(("target", "workload", "template", "config", "costs", "mean_cost", "error",
                    "timestamp", "version", "schema"),
                   rec(cost=1e-3).to_row()))
    row.update(overrides)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"INSERT INTO records ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", tuple(row.values()))
    conn.close()


@pytest.mark.parametrize("overrides", [
    {"config": "{not json", "mean_cost": 1e-9},
    {"costs": '"nope"', "mean_cost": 1e-9},
    {"config": "[1, 2]", "mean_cost": 1e-9},
    {"schema": SCHEMA_VERSION + 1, "mean_cost": 1e-9},     # written by a future TensorForge
])
def test_corrupt_or_foreign_record_is_skipped_with_warning(db, overrides):
    db.add(rec(cost=2e-3, tile=7))
    raw_insert(db.path, **overrides)
    with pytest.warns(RecordWarning, match="skipped a tuning record"):
        assert db.best("llvm", "w").config == {"tile": 7}
    with pytest.warns(RecordWarning):
        assert len(db.records()) == 1


def test_locked_database_waits_then_errors(tmp_path):
    path = tmp_path / "locked.db"
    TuningDatabase(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with TuningDatabase(path, timeout=0.2) as db, \
                pytest.raises(DatabaseError, match="locked.*0.2 s"):
            db.add(rec(cost=1e-3))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_garbage_file_is_clear_error(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="garbage.db.*corrupt"):
        TuningDatabase(path).records()


def test_truncated_file_is_clear_error(tmp_path):
    path = tmp_path / "cut.db"
    with TuningDatabase(path) as db:
        for k in range(300):
            db.add(rec(cost=1e-3, tile=k, pad="x" * 200))
        db._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatabaseError, match="cut.db"):
        TuningDatabase(path).records()


def test_export_import_round_trip(db, tmp_path):
    db.add(rec(cost=1e-3, tile=1))
    db.add(rec(error="timeout", tile=2))
    db.add(rec("v", cost=2e-3, tile=3))
    out = tmp_path / "records.jsonl"
    assert db.export_jsonl(out) == 3
    with TuningDatabase(tmp_path / "copy.db") as copy:
        assert copy.import_jsonl(out) == (3, 0)
        assert [r.to_json() for r in copy.records()] == [r.to_json() for r in db.records()]
        assert copy.import_jsonl(out) == (0, 3)            # duplicates skipped
        assert len(copy) == 3
    buf = io.StringIO()
    assert db.export_jsonl(buf, workload="v") == 1
    assert json.loads(buf.getvalue())["config"] == {"tile": 3}


def test_import_skips_bad_lines(db):
    good = rec(cost=1e-3).to_json()
    future = json.loads(good) | {"schema": SCHEMA_VERSION + 5, "timestamp": 1.0}
    lines = io.StringIO("\n".join([good, "{truncated", json.dumps(future), ""]))
    with pytest.warns(RecordWarning):
        assert db.import_jsonl(lines) == (1, 2)
    assert len(db) == 1
