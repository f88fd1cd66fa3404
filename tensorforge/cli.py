"""The `tensorforge` command line. Errors print as one line with a non-zero exit code; --debug
shows the traceback."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from .compiler import TensorForgeError, from_onnx, optimize

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="TensorForge: compile ONNX models into fast native kernels.")
console = Console()
state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    state["debug"] = debug


def friendly_errors(fn: Callable) -> Callable:
    """Turn TensorForge and file errors into one readable line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TensorForgeError, OSError, ValueError) as e:
            if state["debug"]:
                raise
            first = str(e).strip().splitlines() or [type(e).__name__]
            more = "\n".join(first[1:])
            console.print(f"[bold red]error:[/] {first[0]}" + (f"\n{more}" if more else ""),
                          highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def parse_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    """'name=8x784' -> {'name': (8, 784)}."""
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.partition("=")
        if not sep:
            raise ValueError(f"--input {spec!r}: expected NAME=D0xD1x..., e.g. input=8x784")
        try:
            shapes[name] = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
        except ValueError:
            raise ValueError(f"--input {spec!r}: dimensions must be integers, e.g. input=8x784")
    return shapes


def resolve_model(spec: str):
    """A path to an .onnx file, or the name of a built-in workload (tensorforge.workloads)."""
    from . import workloads

    if spec in workloads.NAMES and not Path(spec).exists():
        return workloads.get(spec)[0], spec
    if not Path(spec).exists() and not spec.endswith(".onnx"):
        raise ValueError(f"{spec!r} is neither a file nor a built-in workload "
                         f"({', '.join(workloads.NAMES)})")
    return Path(spec), spec


ModelArg = typer.Argument(..., help="An .onnx file or a built-in workload name "
                                    "(mlp, resnet18, resnet50, mobilenetv2, bert, ...).")
InputOpt = typer.Option([], "--input", "-i", help="Shape for a dynamic input: NAME=D0xD1x...")
TargetOpt = typer.Option("llvm", "--target", "-t", help='Target: "llvm" (this CPU), '
                         '"llvm -mcpu=avx512", "llvm -mcpu=znver4", ...')


@app.command()
@friendly_errors
def inspect(model: str = ModelArg,
            input: list[str] = InputOpt,
            show_ir: bool = typer.Option(False, "--ir", help="Print the optimized graph IR.")
            ) -> None:
    """Show a model's graph before and after the passes, and its fusion groups.

    Example: tensorforge inspect resnet18.onnx --ir
    """
    source, label = resolve_model(model)
    graph = from_onnx(source, inputs=parse_shapes(input))
    report: list = []
    opt = optimize(graph, report=report)
    table = Table(title=f"{label}: graph passes")
    table.add_column("pass")
    table.add_column("nodes before", justify="right")
    table.add_column("nodes after", justify="right")
    for name, before, after in report:
        table.add_row(name, str(before), str(after))
    console.print(table)
    groups = Table(title="kernels (fusion groups)")
    for col in ("#", "anchor", "pattern", "ops"):
        groups.add_column(col)
    for i, node in enumerate(opt.nodes):
        body = node.attrs.get("body")
        ops = " + ".join(n.op for n in body.nodes) if body is not None else node.op
        groups.add_row(str(i), node.attrs.get("anchor", node.op),
                       str(node.attrs.get("pattern", "")), ops)
    console.print(groups)
    if show_ir:
        console.print(str(opt), highlight=False)


@app.command()
@friendly_errors
def verify(model: str = ModelArg,
           data: Optional[Path] = typer.Option(None, "--data", help=".npz with inputs (and "
                                               "output_0.. references)."),
           target: str = TargetOpt,
           input: list[str] = InputOpt,
           rtol: float = typer.Option(1e-3), atol: float = typer.Option(1e-4)) -> None:
    """Compile the model, run it on the given (or random) inputs and compare every output with
    ONNX Runtime (or the outputs stored in the .npz).

    Exit code 1 if any output differs beyond rtol/atol.
    Example: tensorforge verify resnet18.onnx --data resnet18.npz
    """
    from .api import compile as tf_compile

    source, label = resolve_model(model)
    shapes = parse_shapes(input)
    graph = from_onnx(source, inputs=shapes)
    feeds, refs = _feeds_for(source, label, data, graph)
    with console.status(f"compiling {label} for {target}"):
        module = tf_compile(graph, target=target)
    got = dict(zip([v.name for v in graph.outputs], module.run(**feeds)))
    if not refs:
        import onnxruntime as ort
        sess = ort.InferenceSession(_model_bytes(source), providers=["CPUExecutionProvider"])
        refs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    table = Table(title=f"{label}: TensorForge vs reference")
    for col in ("output", "shape", "max abs err", "max rel err", "ok"):
        table.add_column(col)
    ok_all = True
    for name, ref in refs.items():
        out = got[name]
        ok = out.shape == ref.shape and np.allclose(out, ref, rtol=rtol, atol=atol)
        err = np.abs(out.astype(np.float64) - ref) if out.shape == ref.shape else np.array([np.inf])
        rel = err / np.maximum(np.abs(ref), np.finfo(np.float32).tiny)
        table.add_row(name, str(list(out.shape)), f"{err.max():.3g}", f"{rel.max():.3g}",
                      "yes" if ok else "NO")
        ok_all &= ok
    console.print(table)
    if not ok_all:
        raise typer.Exit(1)


def _model_bytes(source) -> bytes:
    return Path(source).read_bytes() if isinstance(source, Path) else source.SerializeToString()


def _feeds_for(source, label: str, data: Optional[Path], graph) -> tuple[dict, dict]:
    """Inputs (and reference outputs) from --data, a workload's own feeds, or random ones."""
    from . import workloads

    if data:
        return _load_data(data, graph)
    if not isinstance(source, Path) and label in workloads.NAMES:
        return workloads.feeds(source), {}
    return _random_feeds(graph), {}



@app.command()
@friendly_errors
def bench(model: str = ModelArg, target: str = TargetOpt,
          threads: int = typer.Option(os.cpu_count() or 1, "--threads", "-j",
                                      help="Threads for TensorForge and each peer."),
          compare: list[str] = typer.Option(["onnxruntime"], "--compare",
                                            help="Peer to measure side by side: "
                                                 "onnxruntime, or untuned (with --db: the "
                                                 "default schedules). Repeat for several."),
          db: Optional[Path] = typer.Option(None, "--db", help="Tuning database to use."),
          json_out: Optional[Path] = typer.Option(None, "--json", help="Write all figures here."),
          profile: bool = typer.Option(False, "--profile", help="Also show the slowest kernels."),
          repeat: int = typer.Option(50, "--repeat", help="Timed runs at least."),
          data: Optional[Path] = typer.Option(None, "--data", help=".npz with inputs."),
          input: list[str] = InputOpt) -> None:
    """Compile a model and time it against ONNX Runtime on the same inputs and threads.

    Example: tensorforge bench resnet18 --threads 2 --compare onnxruntime
    Tuned: tensorforge bench resnet18 --db tuning.db --compare onnxruntime --compare untuned
    """
    from .benchmark import bench_model

    source, label = resolve_model(model)
    graph = from_onnx(source, inputs=parse_shapes(input))
    feeds, _ = _feeds_for(source, label, data, graph)
    with console.status(f"compiling {label} for {target}"):
        result, module = bench_model(label, _model_bytes(source), feeds, target, threads,
                                     tuple(compare), db, repeat=repeat)
    console.print(f"{label} on {result.cpu}, target {target!r}, {threads} thread(s), "
                  f"compiled in {result.compile_seconds:.2f} s; arena "
                  f"{result.arena_bytes / 2**20:.2f} MiB (naive {result.naive_bytes / 2**20:.2f} "
                  f"MiB, lower bound {result.lower_bound_bytes / 2**20:.2f} MiB)", highlight=False)
    table = Table(title=f"{label}: latency")
    table.add_column("runtime", no_wrap=True)
    for col in ("p50 ms", "p90 ms", "p99 ms", "runs/s", "TF speedup", "max |diff|"):
        table.add_column(col, justify="right")
    for name, lat in result.latency.items():
        row = lat.summary()
        speed = "" if name == "tensorforge" else f"{result.speedup(name):.2f}x"
        diff = "" if name == "tensorforge" else f"{result.max_abs_error[name]:.2g}"
        table.add_row(name, f"{row['p50_ms']:.3f}", f"{row['p90_ms']:.3f}",
                      f"{row['p99_ms']:.3f}", f"{row['throughput_per_s']:.1f}", speed, diff)
    console.print(table)
    if profile:
        console.print(module.profile(**feeds))
    if json_out:
        json_out.write_text(json.dumps(result.as_dict(), indent=2))
        console.print(f"wrote {json_out}")


@app.command("compile")
@friendly_errors
def compile_cmd(model: str = ModelArg, output: Path = typer.Option(..., "--output", "-o",
                                                                  help="Module file to write."),
                target: str = TargetOpt,
                db: Optional[Path] = typer.Option(None, "--db", help="Tuning database to use."),
                input: list[str] = InputOpt) -> None:
    """Compile a model into a module file that `tensorforge run` loads without recompiling.

    Example: tensorforge compile model.onnx -o model.tfm
    """
    from .api import compile as tf_compile

    source, label = resolve_model(model)
    with console.status(f"compiling {label} for {target}"):
        module = tf_compile(source, target=target, inputs=parse_shapes(input), tuning_db=db)
    module.save(output)
    console.print(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB, target {target!r})")


@app.command()
@friendly_errors
def run(module_path: Path = typer.Argument(..., help="A module written by `tensorforge compile`."),
        data: Path = typer.Option(..., "--data", help=".npz with the model's inputs."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write outputs to this .npz.")
        ) -> None:
    """Run a compiled module on inputs from an .npz file.

    Example: tensorforge run model.tfm --data sample.npz --out result.npz
    """
    from .api import load

    module = load(module_path)
    npz = np.load(data)
    feeds = {k: npz[k] for k in npz.files if not k.startswith("output_")}
    outs = module.run(**feeds)
    table = Table(title=f"{module_path.name}: outputs")
    for col in ("output", "shape", "dtype", "mean", "min", "max"):
        table.add_column(col)
    for i, arr in enumerate(outs):
        stats = [f"{arr.mean():.4g}", f"{arr.min():.4g}", f"{arr.max():.4g}"] if arr.size \
            else ["-"] * 3   # an empty output has no statistics
        table.add_row(str(i), str(list(arr.shape)), str(arr.dtype), *stats)
    console.print(table)
    if out:
        np.savez(out, **{f"output_{i}": a for i, a in enumerate(outs)})
        console.print(f"wrote {out}")


# The float16 paragraph of docs/operators.md.
FLOAT16_NOTE = (
    "**float16.** float16 tensors are IEEE half (2 bytes) in memory: model inputs and outputs, "
    "buffers between kernels, and constants that ops only move (Gather tables). A kernel "
    "loads half, computes in float32 and rounds each op's result to half once, as ONNX "
    "Runtime's CPU kernels do (compiler/float16.py rewrites every kernel's graph so); "
    "reductions, Softmax, MatMul, Gemm and Conv accumulate in float32, and the float16 "
    "constants such ops read are held in float32 (exactly). Cast between float16, float32 "
    "and float64 is bit-exact with NumPy: round to nearest even, overflow to infinity, NaN "
    "stays NaN. With F16C (x86-64-v3 and newer) conversions are vector instructions; without "
    "it (`-mcpu=x86-64`), and for double to half on any x86 CPU, LLVM calls libgcc's helpers "
    "(`__extendhfsf2`, `__truncsfhf2`, `__truncdfhf2`), which the JIT loads from "
    "libgcc_s.so.1.")


@app.command()
def ops(markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown table.")) -> None:
    """List the ONNX operators TensorForge converts and the opsets where each converter changes.

    Example: tensorforge ops --markdown > docs/operators.md
    """
    from .compiler.frontend import MAX_OPSET, MIN_OPSET, supported_ops

    rows = supported_ops()
    if markdown:
        print(f"# Supported ONNX operators\n\nModels with opsets {MIN_OPSET} to {MAX_OPSET} "
              f"import; {len(rows)} operator types convert. A converter registered at opset N "
              f"serves every opset from N up to the next registration.\n\n{FLOAT16_NOTE}\n\n"
              "| operator | converter versions |\n|---|---|")
        for op, versions in rows.items():
            print(f"| {op} | {', '.join(map(str, versions))} |")
        return
    table = Table(title=f"{len(rows)} ONNX operators, opsets {MIN_OPSET}..{MAX_OPSET}")
    table.add_column("operator")
    table.add_column("converter versions")
    for op, versions in rows.items():
        table.add_row(op, ", ".join(map(str, versions)))
    console.print(table)


def _load_data(path: Path, graph) -> tuple[dict, dict]:
    npz = np.load(path)
    outs = [k for k in npz.files if k.startswith("output_")]
    feeds = {k: npz[k] for k in npz.files if k not in outs}
    refs = {v.name: npz[f"output_{i}"] for i, v in enumerate(graph.outputs) if f"output_{i}" in npz}
    return feeds, refs


def _random_feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for v in graph.inputs:
        if np.dtype(v.dtype).kind == "f":
            feeds[v.name] = rng.standard_normal(v.shape).astype(v.dtype)
        else:
            feeds[v.name] = rng.integers(0, 2, v.shape).astype(v.dtype)
    return feeds


def _mount_subcommands() -> None:
    """Commands that live in their own modules (they import this one for friendly_errors)."""
    from .cli_db import db_app
    from .cli_tune import tune

    app.add_typer(db_app, name="db")
    app.command("tune")(tune)


_mount_subcommands()
