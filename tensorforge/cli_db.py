"""`tensorforge db ...`: inspect and move tuning databases (mounted by cli.py as "db").

    tensorforge db stats tuning.db
    tensorforge db best tuning.db --target "llvm -mcpu=avx512"
    tensorforge db export tuning.db records.jsonl      # share records between machines
    tensorforge db import other.db records.jsonl       # duplicates skipped
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from .tuner import TuningDatabase

db_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                     help="Inspect, export and import tuning databases.")
console = Console()

DbArg = typer.Argument(..., help="A tuning database file (SQLite).")
TargetOpt = typer.Option(None, "--target", "-t", help="Only this target, e.g. 'llvm'.")
WorkloadOpt = typer.Option(None, "--workload", "-w", help="Only this workload key.")


def friendly(fn: Callable) -> Callable:
    """cli.friendly_errors, looked up at call time (cli.py imports this module)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .cli import friendly_errors
        return friendly_errors(fn)(*args, **kwargs)

    return wrapper


def existing(path: Path) -> TuningDatabase:
    """Open a database that must already exist (reading never creates an empty file)."""
    if not path.is_file():
        raise FileNotFoundError(f"no tuning database at {path}")
    return TuningDatabase(path)


def _ms(cost: float | None) -> str:
    return "-" if cost is None or math.isinf(cost) else f"{cost * 1e3:.4f}"


@db_app.command()
@friendly
def stats(db: Path = DbArg, target: Optional[str] = TargetOpt) -> None:
    """Records, errors and best time per (target, workload)."""
    with existing(db) as d:
        rows = d.stats(target)
    table = Table(title=f"{db.name}: {sum(r.records for r in rows)} records")
    for col, justify in (("target", "left"), ("workload", "left"), ("records", "right"),
                         ("errors", "right"), ("best ms", "right")):
        table.add_column(col, justify=justify)
    for r in rows:
        table.add_row(r.target, r.workload, str(r.records), str(r.errors), _ms(r.best_cost))
    console.print(table)


@db_app.command()
@friendly
def best(db: Path = DbArg, target: Optional[str] = TargetOpt,
         workload: Optional[str] = WorkloadOpt) -> None:
    """The best config of each workload (or of one)."""
    with existing(db) as d:
        keys = [(s.target, s.workload) for s in d.stats(target)
                if workload is None or s.workload == workload]
        found = [r for r in (d.best(t, w) for t, w in keys) if r is not None]
    if workload is not None and not found:
        raise ValueError(f"no successful record of workload {workload!r} in {db}")
    table = Table(title=f"{db.name}: best configs")
    for col in ("target", "workload", "template", "threads", "best ms", "config"):
        table.add_column(col)
    for r in found:
        table.add_row(r.target, r.workload, r.template, str(r.threads or "?"), _ms(r.cost),
                      r.config_key)
    console.print(table)


@db_app.command("export")
@friendly
def export_(db: Path = DbArg,
            out: Path = typer.Argument(..., help="JSON-lines file to write."),
            target: Optional[str] = TargetOpt, workload: Optional[str] = WorkloadOpt) -> None:
    """Write records as JSON lines."""
    with existing(db) as d:
        n = d.export_jsonl(out, target, workload)
    console.print(f"exported {n} records to {out}")


@db_app.command("import")
@friendly
def import_(db: Path = typer.Argument(..., help="Tuning database to add to (created if new)."),
            source: Path = typer.Argument(..., help="JSON-lines file of records.")) -> None:
    """Add records from JSON lines; duplicates and unreadable lines are skipped."""
    with TuningDatabase(db) as d:
        added, skipped = d.import_jsonl(source)
    console.print(f"imported {added} records into {db} ({skipped} skipped)")
