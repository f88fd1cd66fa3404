"""The tuning database: one SQLite row per measured config, shared by concurrent tuners.

    db = TuningDatabase("tuning.db")
    db.add(Record(target, workload, "dense", {"tile_m": 6}, costs=[1.2e-4, 1.1e-4], threads=2))
    db.best(target, workload, threads=2)     # fastest error-free record, or None

A record is ranked by its fastest round (`cost`, the minimum of `costs`): another process
can only add time to a round, never take it away, so on a shared machine the minimum is the
estimate least disturbed by neighbours (the mean is kept too). `threads` is the thread count
the kernel ran with: a schedule that wins on one core may lose on two.

WAL mode and one short transaction per record let several tuner processes write the same
file at once without losing a row; `add` commits immediately, so an interrupted tuner loses
nothing already measured. Rows another version wrote (unknown schema, unreadable JSON) are
skipped with a warning, never fatal: a database outlives the code that filled it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from ..compiler.errors import TensorForgeError

SCHEMA_VERSION = 2           # 2 added min_cost and threads; version 1 rows read as threads unknown
READABLE_SCHEMAS = (1, 2)
COLUMNS = ("target", "workload", "template", "config", "costs", "mean_cost", "error",
           "timestamp", "version", "schema", "min_cost", "threads")
# A duplicate (skipped on import) is the same measurement: same place, config, costs and time.
IDENTITY = ("target", "workload", "template", "config", "costs", "timestamp")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL, workload TEXT NOT NULL, template TEXT NOT NULL,
    config TEXT NOT NULL, costs TEXT NOT NULL, mean_cost REAL, error TEXT,
    timestamp REAL NOT NULL, version TEXT NOT NULL, schema INTEGER NOT NULL,
    min_cost REAL, threads INTEGER,
    UNIQUE ({", ".join(IDENTITY)}));
"""
# Columns a version-1 file lacks, and how the migration fills them for its rows.
ADDED_COLUMNS = {"min_cost": "REAL", "threads": "INTEGER"}
BACKFILL = ("UPDATE records SET min_cost = (SELECT MIN(value) FROM json_each(records.costs)) "
            "WHERE min_cost IS NULL AND error IS NULL AND json_valid(costs) "
            "AND json_type(costs) = 'array'")
# by_cost serves best() and stats(). by_workload (on mean_cost), which older versions made,
# serves no query and slows every insert: dropped on open (opening already writes: WAL, schema).
INDEXES = """
DROP INDEX IF EXISTS by_workload;
CREATE INDEX IF NOT EXISTS by_cost ON records (target, workload, threads, min_cost);
"""


class DatabaseError(TensorForgeError):
    """The tuning database file is unreadable, corrupt, or locked for too long."""


class RecordWarning(UserWarning):
    """A record was skipped: unreadable JSON or a schema this version does not know."""


def _version() -> str:
    from .. import __version__
    return __version__


@dataclass(frozen=True)
class Record:
    """One measurement. `costs` are seconds per run of each round; an `error` record has
    none. `threads`: the thread count it ran with (None: unknown, a version-1 record)."""

    target: str
    workload: str
    template: str
    config: dict
    costs: list = field(default_factory=list)
    error: str | None = None
    timestamp: float = field(default_factory=time.time)
    version: str = field(default_factory=_version)
    schema: int = SCHEMA_VERSION
    threads: int | None = None

    @property
    def cost(self) -> float:
        """Seconds per run of the fastest round, what records are ranked by; inf for an error."""
        return min(self.costs) if self.costs and not self.error else math.inf

    @property
    def mean_cost(self) -> float:
        """Mean seconds per run over the rounds; inf for an error record."""
        return sum(self.costs) / len(self.costs) if self.costs and not self.error else math.inf

    @property
    def config_key(self) -> str:
        return config_key(self.config)

    def to_row(self) -> tuple:
        return (self.target, self.workload, self.template, self.config_key,
                json.dumps(list(self.costs)), _sql_real(self.mean_cost), self.error,
                self.timestamp, self.version, self.schema, _sql_real(self.cost), self.threads)

    @classmethod
    def from_row(cls, row) -> "Record":
        """The record of a row (a mapping of COLUMNS); ValueError/KeyError/TypeError if foreign."""
        schema = int(row["schema"])
        if schema not in READABLE_SCHEMAS:
            raise ValueError(f"schema version {schema} (this TensorForge reads "
                             f"{', '.join(map(str, READABLE_SCHEMAS))})")
        threads = row["threads"] if "threads" in row.keys() else None
        config, costs = _loads(row["config"]), _loads(row["costs"])
        if not isinstance(config, dict) or not isinstance(costs, list) \
                or not all(isinstance(c, (int, float)) for c in costs):
            raise ValueError("config must be a JSON object and costs a JSON list of numbers")
        return cls(str(row["target"]), str(row["workload"]), str(row["template"]), config,
                   [float(c) for c in costs], row["error"], float(row["timestamp"]),
                   str(row["version"]), schema, None if threads is None else int(threads))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _sql_real(x: float) -> float | None:
    """inf (an error record's cost) as NULL: never ranked."""
    return None if math.isinf(x) else x


def _loads(x):
    return json.loads(x) if isinstance(x, str) else x


def config_key(config: dict) -> str:
    """Canonical JSON of a config: equal configs give equal keys."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _parse(rows: Iterable, where: str) -> Iterator[Record]:
    """Records of `rows`, skipping (with a RecordWarning) those that are corrupt or foreign."""
    for row in rows:
        try:
            yield Record.from_row(row)
        except (ValueError, KeyError, TypeError) as e:
            warnings.warn(f"{where}: skipped a tuning record: {e}", RecordWarning, stacklevel=3)


@dataclass(frozen=True)
class WorkloadStats:
    target: str
    workload: str
    records: int
    errors: int
    best_cost: float | None


class TuningDatabase:
    """A tuning database file; opens (creating if needed) on first use, one connection per
    process (connections must not cross a fork). `timeout` is how long a write waits for a
    lock another process holds before failing with DatabaseError."""

    def __init__(self, path, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------ connection

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._guard(self._open_retrying)
        return self._conn

    def _open_retrying(self) -> sqlite3.Connection:
        """_open, retried until the timeout while another process holds the file: some
        steps of opening (WAL recovery, the journal-mode pragma) report busy at once,
        without waiting in SQLite's busy handler."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(SCHEMA)
            _migrate(conn)
            conn.executescript(INDEXES)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _guard(self, fn):
        """Run `fn`, turning SQLite failures into a DatabaseError naming the file."""
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if _is_busy(e):
                raise DatabaseError(f"tuning database {self.path} stayed locked by another "
                                    f"process for more than {self.timeout:g} s") from None
            raise DatabaseError(f"tuning database {self.path}: {e}") from None
        except sqlite3.DatabaseError as e:
            raise DatabaseError(f"tuning database {self.path} is corrupt or not a TensorForge "
                                f"tuning database ({e})") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "TuningDatabase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        return {"path": self.path, "timeout": self.timeout, "_conn": None}

    # ------------------------------------------------------------ writes

    def _insert(self, records: Iterable[Record]) -> int:
        """Insert in one short transaction; returns how many were new (duplicates ignored)."""
        conn = self._connect()
        sql = (f"INSERT OR IGNORE INTO records ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(COLUMNS))})")

        def run():
            before = conn.total_changes
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, [r.to_row() for r in records])
            return conn.total_changes - before
        return self._guard(run)

    def add(self, record: Record) -> None:
        """Record one measurement, committed before this returns."""
        self._insert([record])

    def import_jsonl(self, source) -> tuple[int, int]:
        """Add the records of a JSON-lines file (path or open text file); returns
        (added, skipped): duplicates of stored records and unreadable lines are skipped."""
        with _open_text(source, "r") as f:
            lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
        records = []
        for n, line in lines:
            try:
                records.extend(_parse([json.loads(line)], f"{_name(source)} line {n}"))
            except json.JSONDecodeError as e:
                warnings.warn(f"{_name(source)} line {n}: skipped a tuning record: {e}",
                              RecordWarning, stacklevel=2)
        added = self._insert(records)
        return added, len(lines) - added

    # ------------------------------------------------------------ reads

    def _rows(self, sql: str, params: tuple = ()) -> list:
        conn = self._connect()
        return self._guard(lambda: conn.execute(sql, params).fetchall())

    def records(self, target: str | None = None, workload: str | None = None,
                threads: int | None = None, template: str | None = None) -> list[Record]:
        """Records in insertion order, optionally only those of a target, workload, thread
        count and/or template (a workload's tasks of different templates share its key)."""
        where, params = _filter(target=target, workload=workload, threads=threads,
                                template=template)
        rows = self._rows(f"SELECT * FROM records {where} ORDER BY id", params)
        return list(_parse(rows, str(self.path)))

    def best(self, target: str, workload: str, threads: int | None = None) -> Record | None:
        """The error-free record for (target, workload) with the fastest round, or None;
        only records measured with `threads` threads unless that is None."""
        where, params = _filter(target=target, workload=workload, threads=threads)
        rows = self._rows(f"SELECT * FROM records {where} AND error IS NULL "
                          "AND min_cost IS NOT NULL ORDER BY min_cost", params)
        return next(_parse(rows, str(self.path)), None)

    def stats(self, target: str | None = None) -> list[WorkloadStats]:
        """Record count, error count and best cost (fastest round) per (target, workload)."""
        where, params = _filter(target=target)
        rows = self._rows("SELECT target, workload, COUNT(*) AS n, COUNT(error) AS errors, "
                          f"MIN(min_cost) AS best FROM records {where} "
                          "GROUP BY target, workload ORDER BY target, workload", params)
        return [WorkloadStats(r["target"], r["workload"], r["n"], r["errors"], r["best"])
                for r in rows]

    def export_jsonl(self, dest, target: str | None = None,
                     workload: str | None = None) -> int:
        """Write records as JSON lines (path or open text file); returns how many."""
        records = self.records(target, workload)
        with _open_text(dest, "w") as f:
            for r in records:
                f.write(r.to_json() + "\n")
        return len(records)

    def __len__(self) -> int:
        return self._rows("SELECT COUNT(*) FROM records")[0][0]


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a version-1 file lacks and fill them for its rows, in one transaction
    (a second process opening the file at the same time waits, then finds nothing to do)."""
    def missing() -> dict:
        have = {r["name"] for r in conn.execute("PRAGMA table_info(records)")}
        return {c: t for c, t in ADDED_COLUMNS.items() if c not in have}

    if not missing():
        return
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        todo = missing()
        for column, sql_type in todo.items():
            conn.execute(f"ALTER TABLE records ADD COLUMN {column} {sql_type}")
        if todo:
            conn.execute(BACKFILL)


def _filter(**equal) -> tuple[str, tuple]:
    pairs = [(k, v) for k, v in equal.items() if v is not None]
    where = " AND ".join(f"{k} = ?" for k, _ in pairs)
    return (f"WHERE {where}" if where else ""), tuple(v for _, v in pairs)


def _name(source) -> str:
    return str(getattr(source, "name", source))


class _open_text:
    """Open a path, or pass an already open text file through (not closing it)."""

    def __init__(self, target, mode: str):
        self.target, self.mode, self.opened = target, mode, None

    def __enter__(self) -> TextIO:
        if hasattr(self.target, "read") or hasattr(self.target, "write"):
            return self.target
        self.opened = open(self.target, self.mode, encoding="utf-8")
        return self.opened

    def __exit__(self, *exc) -> None:
        if self.opened is not None:
            self.opened.close()
