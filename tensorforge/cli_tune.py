"""`tensorforge tune`: tune a model's kernels into a tuning database (cli.py mounts `tune`).

    tensorforge tune resnet18 --target llvm --trials 200 --db tuning.db
    tensorforge compile resnet18 -o resnet18.tfm --db tuning.db     # uses the best configs

Ctrl-C keeps every measured record; the same command later resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def short(workload: str) -> str:
    """A workload key without its target and hash: 'Conv|float32[..]->float32[..]|Conv+Relu'."""
    return "|".join(workload.split("|")[:3])


def _tasks_table(label: str, tasks) -> Table:
    table = Table(title=f"{label}: {len(tasks)} tasks to tune")
    for col in ("#", "kernel", "template", "weight", "configs", "GFLOP"):
        table.add_column(col, justify="right" if col in ("#", "weight", "configs", "GFLOP")
                         else "left")
    for k, t in enumerate(tasks):
        table.add_row(str(k), short(t.workload), t.template, str(t.weight), str(len(t.space)),
                      f"{t.flops / 1e9:.3f}")
    return table


def _summary_table(summary) -> Table:
    """One row per task; "untuned" is the kernel compile builds without records: the default
    config of the workload's default template (for a Winograd task, the direct conv's)."""
    from .compiler.templates import TEMPLATES
    alternative = {t.name for t in TEMPLATES if t.alternative}
    untuned = {t.workload: t.default_gflops for t in summary.tasks
               if t.template not in alternative}
    table = Table(title=f"tuned into {summary.db} (GFLOP/s)")
    for col in ("kernel", "template", "trials", "errors", "untuned", "best", "speedup"):
        table.add_column(col, justify="left" if col in ("kernel", "template") else "right")
    for t in summary.tasks:
        base = untuned.get(t.workload, t.default_gflops)
        gain = f"{t.best_gflops / base:.2f}x" if base else "-"
        table.add_row(short(t.workload), t.template, str(t.trials), str(t.errors),
                      f"{base:.2f}", f"{t.best_gflops:.2f}", gain)
    return table


def _tune(model: str, target: str, trials: int, db: Path, tuner: str,
          early_stopping: Optional[int], timeout: float, input: list[str],
          threads: Optional[int]) -> None:
    from .cli import parse_shapes, resolve_model
    from .tuner import extract_tasks
    from .tuner.measure import measurer_for
    from .tuner import tune as tune_model

    source, label = resolve_model(model)
    label = Path(label).name
    options = {"threads": threads} if threads else {}
    measure_fn = measurer_for(target, timeout=timeout, min_repeat_ms=10, **options)
    target = getattr(measure_fn, "target", target)  # a GPU's: "cuda -arch=sm_90"
    tasks = extract_tasks(source, target, inputs=parse_shapes(input))
    if not tasks:
        console.print(f"{label}: no kernel has a tunable config space; nothing to tune")
        return
    console.print(_tasks_table(label, tasks))
    try:
        summary = tune_model(source, target, db, trials=trials, tuner=tuner,
                             early_stopping=early_stopping, tasks=tasks, measure_fn=measure_fn)
    except KeyboardInterrupt:
        console.print(f"interrupted: every measured config is in {db}; the same command "
                      "resumes", highlight=False)
        raise typer.Exit(130) from None
    console.print(_summary_table(summary))
    console.print(f"use it: tensorforge compile {model} -o model.tfm --db {db}", highlight=False)


def tune(model: str = typer.Argument(..., help="An .onnx file or a built-in workload name."),
         target: str = typer.Option("llvm", "--target", "-t", help='e.g. "llvm", '
                                    '"llvm -mcpu=avx512", "cuda"'),
         trials: int = typer.Option(200, "--trials", "-n", help="Configs per kernel at most."),
         db: Path = typer.Option(Path("tuning.db"), "--db", help="Tuning database (SQLite), "
                                 "created if missing; earlier records are reused."),
         tuner: str = typer.Option("xgb", "--tuner", help="xgb, random or grid."),
         early_stopping: Optional[int] = typer.Option(None, "--early-stopping", help="Stop a "
                                                      "kernel after this many trials without "
                                                      "a better config."),
         timeout: float = typer.Option(10.0, "--timeout", help="Seconds per measurement."),
         input: list[str] = typer.Option([], "--input", "-i", help="Shape for a dynamic "
                                         "input: NAME=D0xD1x..."),
         threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads "
                                               "each kernel runs with while measured (default: "
                                               "TENSORFORGE_NUM_THREADS, else the cores). "
                                               "compile() prefers records of its own count.")
         ) -> None:
    """Tune a model's kernels (one task per distinct kernel) into a tuning database.

    Example: tensorforge tune resnet18 --target llvm --trials 200 --db tuning.db
    """
    from .cli import friendly_errors
    friendly_errors(_tune)(model, target, trials, db, tuner, early_stopping, timeout, input,
                           threads)
