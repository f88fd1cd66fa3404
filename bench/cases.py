"""What the benchmarks measure, shared by the pytest-benchmark suites and bench/report.py:
operator cases (one small ONNX model each, with a NumPy peer where NumPy has the op) and model
cases (the shared models in /work/shared/models and built-in workloads), and the contenders
for a case at a thread count: TensorForge's compiled Module, ONNX Runtime, NumPy.

Every contender is a zero-argument callable over fixed inputs, so any timer can run it.
Thread counts: TensorForge reads TENSORFORGE_NUM_THREADS at each call (set by the callable),
ONNX Runtime takes it per session, NumPy's OpenBLAS fixes it from OPENBLAS_NUM_THREADS when
numpy is first imported (the callers set that before importing this module).
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import onnx
from onnx import helper

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
sys.path.insert(0, str(ROOT / "tests"))
from oracle import make_model  # noqa: E402

import tensorforge  # noqa: E402
from tensorforge import workloads  # noqa: E402
from tensorforge.benchmark import onnxruntime_runner, with_threads  # noqa: E402

TARGET = "llvm"
# TensorForge vs a peer: the shared models' stated tolerance, loosened for long float sums.
RTOL, ATOL = 1e-3, 1e-3

Feeds = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Case:
    """One thing to time. `load` builds (model, feeds) on demand (models are large);
    `numpy` computes the first output from the feeds, None where NumPy lacks the op;
    `reference` loads expected outputs (a shared model's .npz), None to compare with ORT."""

    name: str
    kind: str  # "operator" or "model"
    load: Callable[[], tuple[onnx.ModelProto, dict[str, np.ndarray]]]
    numpy: Callable[..., np.ndarray] | None = None
    reference: Callable[[], list[np.ndarray]] | None = None


def _rand(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape, dtype=np.float32) * scale)


def _graph(nodes: list[tuple], feeds: dict[str, np.ndarray], weights: dict[str, np.ndarray],
           output: str = "y"):
    """A loader for a chain of ONNX nodes (op, inputs, output, attrs) over `feeds` and
    constant `weights`."""
    def load():
        made = [helper.make_node(op, ins, [out], **attrs) for op, ins, out, attrs in nodes]
        return make_model(made, feeds, [output], weights), feeds
    return load


def _conv_relu(channels: int, size: int, group: int) -> Callable:
    """Conv 3x3 (pad 1, bias) + Relu over [1, channels, size, size]: the group fusion makes."""
    x = _rand(1, channels, size, size)
    w = _rand(channels, channels // group, 3, 3, seed=1, scale=(9 * channels / group) ** -0.5)
    conv = ("Conv", ["x", "w", "b"], "c", {"pads": [1, 1, 1, 1], "group": group})
    return _graph([conv, ("Relu", ["c"], "y", {})], {"x": x}, {"w": w, "b": _rand(channels)})


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * scale + bias


def _gelu_nodes() -> list[tuple]:
    """GELU as exporters write it: x * 0.5 * (1 + erf(x / sqrt(2)))."""
    return [("Div", ["x", "sqrt2"], "d", {}), ("Erf", ["d"], "e", {}),
            ("Add", ["e", "one"], "p", {}), ("Mul", ["x", "p"], "m", {}),
            ("Mul", ["m", "half"], "y", {})]


_GELU_CONSTS = {"sqrt2": np.float32(math.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
_LN_SCALE, _LN_BIAS = _rand(768, seed=1), _rand(768, seed=2)
_GEMM_W = {"w": _rand(512, 512, seed=1, scale=512 ** -0.5)}
_FFN_W = {"w": _rand(256, 1024, seed=1, scale=256 ** -0.5)}

OPERATORS = [
    Case("gemm 512x512x512", "operator",
         _graph([("MatMul", ["x", "w"], "y", {})], {"x": _rand(512, 512)}, _GEMM_W),
         numpy=lambda x: x @ _GEMM_W["w"]),
    Case("dense 128x256x1024", "operator",
         _graph([("MatMul", ["x", "w"], "y", {})], {"x": _rand(128, 256)}, _FFN_W),
         numpy=lambda x: x @ _FFN_W["w"]),
    Case("conv3x3+relu 64ch 56x56", "operator", _conv_relu(64, 56, 1)),
    Case("depthwise3x3+relu 144ch 56x56", "operator", _conv_relu(144, 56, 144)),
    Case("softmax 4x128x128", "operator",
         _graph([("Softmax", ["x"], "y", {"axis": -1})], {"x": _rand(1, 4, 128, 128)}, {}),
         numpy=_softmax),
    Case("layernorm 384x768", "operator",
         _graph([("LayerNormalization", ["x", "g", "b"], "y", {"axis": -1})],
                {"x": _rand(1, 384, 768)}, {"g": _LN_SCALE, "b": _LN_BIAS}),
         numpy=lambda x: _layer_norm(x, _LN_SCALE, _LN_BIAS)),
    Case("add+relu 256x56x56", "operator",
         _graph([("Add", ["a", "b"], "s", {}), ("Relu", ["s"], "y", {})],
                {"a": _rand(1, 256, 56, 56), "b": _rand(1, 256, 56, 56, seed=1)}, {}),
         numpy=lambda a, b: np.maximum(a + b, 0)),
    Case("gelu-erf 128x4096", "operator",
         _graph(_gelu_nodes(), {"x": _rand(128, 4096)}, _GELU_CONSTS)),
]


def _shared(name: str) -> Case:
    """A model of /work/shared/models with its reference input and ORT-computed outputs."""
    def npz():
        return np.load(SHARED_MODELS / f"{name}.npz")

    def load():
        data = npz()
        return onnx.load(SHARED_MODELS / f"{name}.onnx"), {
            k: data[k] for k in data.files if not k.startswith("output_")}

    def reference():
        data = npz()
        return [data[f"output_{i}"] for i in range(sum(k.startswith("output_") for k in data))]

    return Case(name, "model", load, reference=reference)


def _builtin(name: str) -> Case:
    return Case(f"{name} (built-in)", "model", lambda: workloads.get(name))


MODELS = [*map(_shared, ["mlp", "convbnrelu", "resnet18", "mobilenetv2", "bert_mini"]),
          *map(_builtin, ["resnet50", "bert"])]
CASES = {c.name: c for c in OPERATORS + MODELS}


@functools.cache
def loaded(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    return CASES[name].load()


@functools.cache
def compiled(name: str):
    """The TensorForge Module for case `name`, compiled once per process."""
    return tensorforge.compile(loaded(name)[0], target=TARGET)


def contender_names(case: Case) -> tuple[str, ...]:
    """TensorForge first, then its peers for `case`."""
    return ("tensorforge", "onnxruntime") + (("numpy",) if case.numpy is not None else ())


def contenders(case: Case, threads: int) -> dict[str, Callable[[], object]]:
    """name -> callable running `case` once at `threads` threads: tensorforge, onnxruntime,
    and numpy where the case has a NumPy peer."""
    model, feeds = loaded(case.name)
    module = compiled(case.name)

    def tensorforge_run():
        with_threads(threads)
        return module.run(**feeds)

    runs = {"tensorforge": tensorforge_run,
            "onnxruntime": onnxruntime_runner(model.SerializeToString(), feeds, threads)}
    if case.numpy is not None:
        runs["numpy"] = lambda: [case.numpy(*feeds.values())]
    return runs


def check(case: Case, threads: int) -> None:
    """Assert TensorForge's outputs match the reference (a shared model's .npz, else ONNX
    Runtime's) and NumPy's where the case has it."""
    runs = contenders(case, threads)
    ours = runs["tensorforge"]()
    expected = {"reference": case.reference() if case.reference else runs["onnxruntime"]()}
    if case.numpy is not None:
        expected["numpy"] = runs["numpy"]()
    for peer, want in expected.items():
        for i, (got, exp) in enumerate(zip(ours, want, strict=True)):
            np.testing.assert_allclose(got, exp, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{case.name}: output {i} vs {peer}")
