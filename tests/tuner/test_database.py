"""The tuning database: queries, concurrent writers, corrupt rows and files, JSON lines."""

import io
import json
import multiprocessing
import sqlite3

import pytest
from tuning_tasks import insert_many

from tensorforge.tuner import DatabaseError, Record, RecordWarning, TuningDatabase
from tensorforge.tuner.database import COLUMNS, SCHEMA_VERSION


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
    # spawn, not forkserver: a fork server started here, without LocalMeasurer's preload,
    # would make every later measurement worker import TensorForge afresh (seconds, loaded)
    ctx = multiprocessing.get_context("spawn")
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
    row = dict(zip(COLUMNS, rec(cost=1e-3).to_row()))
    row.update(overrides)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"INSERT INTO records ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", tuple(row.values()))
    conn.close()


@pytest.mark.parametrize("overrides", [
    {"config": "{not json", "min_cost": 1e-9},
    {"costs": '"nope"', "min_cost": 1e-9},
    {"config": "[1, 2]", "min_cost": 1e-9},
    {"schema": SCHEMA_VERSION + 1, "min_cost": 1e-9},      # written by a future TensorForge
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


def test_best_is_the_fastest_round(db):
    """Ranked by the minimum over rounds: noise from other processes only adds time."""
    db.add(Record("llvm", "w", "dense", {"tile": 1}, [3e-3, 1e-3]))   # mean 2e-3, min 1e-3
    db.add(Record("llvm", "w", "dense", {"tile": 2}, [1.5e-3, 1.5e-3]))
    best = db.best("llvm", "w")
    assert best.config == {"tile": 1} and best.cost == 1e-3 and best.mean_cost == 2e-3
    assert db.stats()[0].best_cost == pytest.approx(1e-3)


def test_records_say_their_thread_count(db):
    db.add(Record("llvm", "w", "dense", {"tile": 1}, [1e-3], threads=1))
    db.add(Record("llvm", "w", "dense", {"tile": 2}, [2e-3], threads=2))
    assert db.best("llvm", "w", threads=2).config == {"tile": 2}
    assert db.best("llvm", "w", threads=1).config == {"tile": 1}
    assert db.best("llvm", "w").config == {"tile": 1}             # any thread count
    assert db.best("llvm", "w", threads=4) is None
    assert [r.threads for r in db.records()] == [1, 2]
    assert [r.config for r in db.records(threads=2)] == [{"tile": 2}]


# a version-1 file, as the first TensorForge tuner wrote it
V1_SCHEMA = """
CREATE TABLE records (id INTEGER PRIMARY KEY, target TEXT NOT NULL, workload TEXT NOT NULL,
    template TEXT NOT NULL, config TEXT NOT NULL, costs TEXT NOT NULL, mean_cost REAL,
    error TEXT, timestamp REAL NOT NULL, version TEXT NOT NULL, schema INTEGER NOT NULL,
    UNIQUE (target, workload, template, config, costs, timestamp));
"""


def test_version_1_database_is_read_and_extended(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(V1_SCHEMA)
        for k, costs in enumerate(([3e-3, 1e-3], [1.5e-3, 1.5e-3])):
            conn.execute("INSERT INTO records (target, workload, template, config, costs, "
                         "mean_cost, error, timestamp, version, schema) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ("llvm", "w", "dense", json.dumps({"tile": k}), json.dumps(costs),
                          sum(costs) / 2, None, float(k), "0.1", 1))
        conn.execute("INSERT INTO records (target, workload, template, config, costs, error, "
                     "timestamp, version, schema) VALUES ('llvm', 'w', 'dense', '{}', '[]', "
                     "'timeout', 9.0, '0.1', 1)")
    conn.close()
    with TuningDatabase(path) as db:
        assert [r.threads for r in db.records()] == [None, None, None]
        best = db.best("llvm", "w")
        assert best.config == {"tile": 0} and best.schema == 1     # min_cost filled in
        db.add(rec(cost=5e-4, tile=9))
        assert db.best("llvm", "w").config == {"tile": 9}
    with TuningDatabase(path) as db:                                # reopening migrates nothing
        assert len(db) == 4 and db.best("llvm", "w", threads=1) is None


def named_indexes(path) -> set:
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                        "AND name NOT LIKE 'sqlite_autoindex%'")}
    conn.close()
    return names


def test_by_workload_index_is_gone_from_new_and_old_files(tmp_path):
    """by_cost serves best() and stats(); by_workload (target, workload, mean_cost) served no
    query and slowed every insert: new files lack it and opening an older file drops it."""
    path = tmp_path / "t.db"
    with TuningDatabase(path) as db:
        assert len(db) == 0  # opens (creates) the file
    assert named_indexes(path) == {"by_cost"}
    conn = sqlite3.connect(path)
    conn.execute("CREATE INDEX by_workload ON records (target, workload, mean_cost)")
    conn.commit()
    conn.close()
    with TuningDatabase(path) as db:
        db.add(rec(cost=1e-3))
        assert db.best("llvm", "w").cost == 1e-3
    assert named_indexes(path) == {"by_cost"}


def test_json_line_without_threads_imports(db):
    line = json.loads(rec(cost=1e-3).to_json())
    del line["threads"]
    assert db.import_jsonl(io.StringIO(json.dumps(line | {"schema": 1}))) == (1, 0)
    assert db.records()[0].threads is None
