"""Random valid ONNX graphs (opset 17) for differential fuzzing against ONNX Runtime.

A graph grows from one or two float32 inputs: each step picks a value and an op from OPS, a
table op -> builder. A builder draws the op's parameters from the value's shape and emits
nodes; after each step ONNX's own shape inference (strict) types the new value, and a step
that makes an empty or too large tensor is rolled back. Values stay O(1) so float32
reassociation stays inside the tolerance: weights are scaled by 1/sqrt(fan-in), Exp reads
Tanh of its input, Sqrt reads Abs, Div divides by 1 + |y| or by a constant in +-[0.5, 2].

`check_against_ort` is the property, shared with the saved regressions: on a mismatch (or any
error) during hypothesis' final replay of the shrunk case, the model and its inputs are
written to tests/regressions/<hash>.onnx/.npz before the test fails.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from onnx import TensorProto, helper, numpy_helper

import tensorforge
from oracle import MODEL_TOLERANCE, assert_close, run_ort

OPSET = 17
MAX_ELEMENTS = 4096
REGRESSIONS = Path(__file__).resolve().parents[1] / "regressions"
OPT_LEVEL_KEY = "tensorforge.opt_level"  # metadata: the opt_level the case compiled with
DIMS = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 16, 17])


# ------------------------------------------------------------------ the graph under construction

@dataclass
class OnnxGraph:
    """An ONNX graph being drawn: nodes, float32 inputs, constants, every value's shape."""

    draw: Callable
    nodes: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)   # name -> shape
    inits: dict = field(default_factory=dict)    # name -> array
    shapes: dict = field(default_factory=dict)   # name -> shape of every value
    count: int = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def input(self, shape) -> str:
        name = self.fresh("x")
        self.inputs[name] = self.shapes[name] = tuple(shape)
        return name

    def const(self, array, prefix: str = "c") -> str:
        name = self.fresh(prefix)
        self.inits[name] = np.asarray(array)
        self.shapes[name] = self.inits[name].shape
        return name

    def weight(self, shape, fan_in: int) -> str:
        rng = np.random.default_rng(self.draw(st.integers(0, 2**16)))
        return self.const((rng.standard_normal(shape) / math.sqrt(max(fan_in, 1)))
                          .astype(np.float32), "w")

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64), "i")

    def node(self, op: str, inputs, **attrs) -> str:
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        self.shapes[out] = _inferred_shape(self.model([out]), out)
        return out

    def values(self) -> list[str]:
        """Float tensors a later op may read (not the int64 parameter constants)."""
        return [v for v in self.shapes if v not in self.inits or self.inits[v].dtype == np.float32]

    def model(self, outputs) -> onnx.ModelProto:
        info = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT,  # noqa: E731
                                                       self.shapes.get(n))
        graph = helper.make_graph(
            self.nodes, "fuzz", [info(n) for n in self.inputs], [info(n) for n in outputs],
            [numpy_helper.from_array(a, n) for n, a in self.inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model

    def snapshot(self):
        return len(self.nodes), dict(self.inputs), dict(self.inits), dict(self.shapes)

    def restore(self, snap) -> None:
        n, self.inputs, self.inits, self.shapes = snap
        del self.nodes[n:]


def _inferred_shape(model: onnx.ModelProto, name: str) -> tuple[int, ...]:
    typed = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for vi in [*typed.graph.value_info, *typed.graph.output]:
        if vi.name == name:
            return tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
    raise AssertionError(f"ONNX inferred no shape for {name}")


# ------------------------------------------------------------------ operand strategies

def _broadcast_partner(g: OnnxGraph, shape) -> tuple[int, ...]:
    """A shape that broadcasts with `shape`: each dim kept or 1, leading dims dropped or added."""
    dims = [g.draw(st.sampled_from([d, 1])) for d in shape]
    drop = g.draw(st.integers(0, len(dims)))
    extra = [] if drop else g.draw(st.lists(DIMS, max_size=max(0, 2 - len(shape))))
    return tuple(extra + dims[drop:])


def _operand(g: OnnxGraph, x: str) -> str:
    """The second operand of a binary op on x: x itself, an earlier value that broadcasts with
    it (a diamond in the dataflow graph), a new input or a constant."""
    shape = g.shapes[x]
    kind = g.draw(st.sampled_from(["input", "const", "value", "self"]))
    if kind == "self":
        return x
    if kind == "value":
        partners = [v for v in g.values() if v != x and _broadcasts(g.shapes[v], shape)]
        if partners:
            return g.draw(st.sampled_from(partners))
    other = _broadcast_partner(g, shape)
    return g.input(other) if kind == "input" else g.weight(other, 1)


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _axis(g: OnnxGraph, rank: int) -> int:
    return g.draw(st.integers(-rank, rank - 1))


def _axes(g: OnnxGraph, rank: int) -> list[int]:
    axes = g.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    return [a - rank if g.draw(st.booleans()) else a for a in axes]


# ------------------------------------------------------------------ op builders

def unary(op: str):
    return lambda g, x: g.node(op, [x])


def binary(op: str):
    def build(g, x):
        y = _operand(g, x)
        return g.node(op, [y, x] if g.draw(st.booleans()) else [x, y])
    return build


def exp(g, x):
    return g.node("Exp", [g.node("Tanh", [x])])


def sqrt(g, x):
    return g.node("Sqrt", [g.node("Abs", [x])])


def div(g, x):
    if g.draw(st.booleans()):
        d = g.node("Add", [g.node("Abs", [_operand(g, x)]), g.const(np.float32(1))])
    else:
        rng = np.random.default_rng(g.draw(st.integers(0, 2**16)))
        shape = _broadcast_partner(g, g.shapes[x])
        mag = rng.uniform(0.5, 2, shape) * rng.choice([-1, 1], shape)
        d = g.const(mag.astype(np.float32))
    return g.node("Div", [x, d])


def clip(g, x):
    lo, hi = sorted(g.draw(st.lists(st.floats(-2, 2, width=32), min_size=2, max_size=2)))
    lo_name = g.const(np.float32(lo)) if g.draw(st.booleans()) else ""
    hi_name = g.const(np.float32(hi)) if g.draw(st.booleans()) else ""
    return g.node("Clip", [x, lo_name, hi_name])


def softmax(g, x):
    rank = len(g.shapes[x])
    return g.node("Softmax", [x], axis=_axis(g, rank)) if rank else None


def reduce(op: str):
    def build(g, x):
        rank = len(g.shapes[x])
        if not rank:
            return None
        keep = int(g.draw(st.booleans()))
        axes = _axes(g, rank) if g.draw(st.booleans()) else None
        if op == "ReduceSum":  # axes became an input in opset 13, the others in opset 18
            return g.node(op, [x] + ([g.ints(axes)] if axes else []), keepdims=keep)
        return g.node(op, [x], keepdims=keep, **({"axes": axes} if axes else {}))
    return build


def transpose(g, x):
    rank = len(g.shapes[x])
    if not rank:
        return None
    if g.draw(st.booleans()):
        return g.node("Transpose", [x])
    return g.node("Transpose", [x], perm=g.draw(st.permutations(range(rank))))


def reshape(g, x):
    """A random regrouping of the prime factors of the size; a -1 or a 0 (copy) sometimes."""
    shape = g.shapes[x]
    factors = [p for p, k in _factorize(math.prod(shape)).items() for _ in range(k)]
    rank = g.draw(st.integers(1, 4))
    new = [1] * rank
    for p in factors:
        new[g.draw(st.integers(0, rank - 1))] *= p
    spec = list(new)
    if g.draw(st.booleans()):
        spec[g.draw(st.integers(0, rank - 1))] = -1
    for i in range(min(rank, len(shape))):
        if spec[i] == shape[i] and g.draw(st.booleans()):
            spec[i] = 0
    return g.node("Reshape", [x, g.ints(spec)])


def _factorize(n: int) -> dict[int, int]:
    out, p = {}, 2
    while n > 1:
        while n % p == 0:
            out[p], n = out.get(p, 0) + 1, n // p
        p += 1
    return out


def concat(g, x):
    shape = g.shapes[x]
    if not shape:
        return None
    axis = _axis(g, len(shape))
    parts = [x]
    for _ in range(g.draw(st.integers(1, 2))):
        other = list(shape)
        other[axis] = g.draw(DIMS)
        kind = g.draw(st.sampled_from(["self", "input", "const"]))
        parts.append(x if kind == "self" else
                     g.input(other) if kind == "input" else g.weight(other, 1))
    return g.node("Concat", g.draw(st.permutations(parts)), axis=axis)


def slice_(g, x):
    """Non-empty slices, bounds written positive, negative or clamped (INT64_MAX/MIN)."""
    shape = g.shapes[x]
    if not shape:
        return None
    axes = _axes(g, len(shape))
    bounds = [_slice_bounds(g, shape[a]) for a in axes]
    starts, ends, steps = ([b[i] for b in bounds] for i in range(3))
    inputs = [x, g.ints(starts), g.ints(ends), g.ints(axes)]
    return g.node("Slice", inputs + ([g.ints(steps)] if set(steps) != {1} else []))


def _slice_bounds(g: OnnxGraph, d: int) -> tuple[int, int, int]:
    step = g.draw(st.sampled_from([1, 2, 3, -1, -2]))
    start = g.draw(st.integers(0, d - 1))
    # one past the last element taken: d (or beyond) going up, -1 (or beyond) going down
    end = g.draw(st.integers(start + 1, d) if step > 0 else st.integers(-1, start - 1))
    past = 2**63 - 1 if step > 0 else -(2**63)
    write = lambda i: (past if i in (-1, d) and g.draw(st.booleans())  # noqa: E731
                       else i - d if i >= 0 and g.draw(st.booleans()) else
                       -d - 1 if i == -1 else i)
    return write(start), write(end), step


def matmul(g, x):
    shape = g.shapes[x]
    if not shape:
        return None
    k = shape[-1]
    w_shape = (k,) if g.draw(st.integers(0, 4)) == 0 else (k, g.draw(DIMS))
    return g.node("MatMul", [x, g.weight(w_shape, k)])


def gemm(g, x):
    """Gemm, reading x through a Flatten when x is not 2-d."""
    rank = len(g.shapes[x])
    if not rank:
        return None
    if rank != 2:
        x = g.node("Flatten", [x], axis=g.draw(st.integers(-rank, rank)))
    shape = g.shapes[x]
    trans_a, trans_b = g.draw(st.integers(0, 1)), g.draw(st.integers(0, 1))
    m, k = shape[::-1] if trans_a else shape
    n = g.draw(DIMS)
    inputs = [x, g.weight((n, k) if trans_b else (k, n), k)]
    c_shape = g.draw(st.sampled_from([None, (), (n,), (1, n), (m, 1), (m, n)]))
    if c_shape is not None:
        inputs.append(g.weight(c_shape, 1))
    scale = st.sampled_from([1.0, 0.5, 2.0])
    return g.node("Gemm", inputs, transA=trans_a, transB=trans_b, alpha=g.draw(scale),
                  beta=g.draw(scale))


def conv(g, x):
    """Conv (1-d or 2-d, grouped, strided, dilated, padded) then Relu half the time."""
    shape = g.shapes[x]
    if len(shape) not in (3, 4):
        return None
    spatial = shape[2:]
    cin = shape[1]
    group = g.draw(st.sampled_from([d for d in (1, 2, 3, cin) if cin % d == 0]))
    cout = group * g.draw(st.integers(1, 3))
    dil = [g.draw(st.integers(1, 2)) for _ in spatial]
    pads = [g.draw(st.integers(0, 2)) for _ in range(2 * len(spatial))]
    strides = [g.draw(st.integers(1, 2)) for _ in spatial]
    padded = [s + pads[i] + pads[i + len(spatial)] for i, s in enumerate(spatial)]
    kernel = [g.draw(st.integers(1, min(3, (p - 1) // d + 1))) for p, d in zip(padded, dil)]
    fan_in = cin // group * math.prod(kernel)
    inputs = [x, g.weight((cout, cin // group, *kernel), fan_in)]
    if g.draw(st.booleans()):
        inputs.append(g.weight((cout,), 1))
    y = g.node("Conv", inputs, group=group, kernel_shape=kernel, dilations=dil, pads=pads,
               strides=strides)
    return g.node("Relu", [y]) if g.draw(st.booleans()) else y


def max_pool(g, x):
    shape = g.shapes[x]
    if len(shape) not in (3, 4):
        return None
    kernel = [g.draw(st.integers(1, min(3, s))) for s in shape[2:]]
    pads = [g.draw(st.integers(0, k - 1)) for k in kernel * 2]
    strides = [g.draw(st.integers(1, 2)) for _ in kernel]
    return g.node("MaxPool", [x], kernel_shape=kernel, pads=pads, strides=strides)


def layer_norm(g, x):
    """LayerNormalization over the trailing axes from a random axis, bias optional."""
    shape = g.shapes[x]
    if not shape:
        return None
    axis = _axis(g, len(shape))
    inputs = [x, g.weight(shape[axis:], 1)]
    if g.draw(st.booleans()):
        inputs.append(g.weight(shape[axis:], 1))
    return g.node("LayerNormalization", inputs, axis=axis, epsilon=1e-5)


OPS: dict[str, Callable] = {
    **{op: unary(op) for op in ("Relu", "Sigmoid", "Tanh", "Abs", "Neg")},
    "Exp": exp, "Sqrt": sqrt,
    **{op: binary(op) for op in ("Add", "Sub", "Mul", "Max", "Min")},
    "Div": div, "Clip": clip, "Softmax": softmax,
    **{op: reduce(op) for op in ("ReduceMean", "ReduceSum", "ReduceMax")},
    "Transpose": transpose, "Reshape": reshape, "Concat": concat, "Slice": slice_,
    "MatMul": matmul, "Gemm": gemm, "Conv": conv, "MaxPool": max_pool,
    "LayerNormalization": layer_norm,
}


# ------------------------------------------------------------------ cases

@dataclass
class Case:
    """A model, its feeds and the opt_level to compile it with."""

    model: onnx.ModelProto
    feeds: dict

    @property
    def opt_level(self) -> int:
        meta = {p.key: p.value for p in self.model.metadata_props}
        return int(meta.get(OPT_LEVEL_KEY, 3))

    def _repr_pretty_(self, p, cycle) -> None:  # what hypothesis prints for a failing case
        p.text(repr(self))

    def __repr__(self) -> str:
        shapes = {k: v.shape for k, v in self.feeds.items()}
        return (f"Case(opt_level={self.opt_level}, feeds={shapes}):\n"
                f"{onnx.printer.to_text(self.model.graph)}")


@st.composite
def onnx_cases(draw, max_ops: int = 8) -> Case:
    g = OnnxGraph(draw)
    rank = draw(st.integers(0, 4))
    for _ in range(draw(st.integers(1, 2))):
        g.input(draw(st.lists(DIMS, min_size=rank, max_size=rank)))
    made = []
    for _ in range(draw(st.integers(1, max_ops))):
        x = draw(st.sampled_from(made[-2:] + list(g.inputs)))
        snap = g.snapshot()
        y = OPS[draw(st.sampled_from(sorted(OPS)))](g, x)
        if y is None or not 0 < math.prod(g.shapes[y]) <= MAX_ELEMENTS:
            g.restore(snap)
            continue
        made.append(y)
    outputs = [v for v in made[:-1] if draw(st.integers(0, 3)) == 0] + made[-1:]
    if not outputs:  # no op applied: a graph of one Identity still compiles and runs
        outputs = [g.node("Identity", [next(iter(g.inputs))])]
    model = g.model(outputs)
    helper.set_model_props(model, {OPT_LEVEL_KEY: str(draw(st.sampled_from([3, 0])))})
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in g.inputs.items()}
    return Case(model, feeds)


# ------------------------------------------------------------------ the property

def check_against_ort(case: Case) -> None:
    """Compile and run `case` and compare every output with ONNX Runtime."""
    want = run_ort(case.model, case.feeds)
    got = tensorforge.compile(case.model, opt_level=case.opt_level).run(**case.feeds)
    assert len(got) == len(want)
    for out, a, b in zip(case.model.graph.output, got, want):
        assert_close(a, b, out.name, MODEL_TOLERANCE)


def save_regression(case: Case) -> Path:
    """Write the case as tests/regressions/<hash>.onnx and .npz; returns the model's path."""
    data = case.model.SerializeToString()
    buf = io.BytesIO()
    np.savez(buf, **case.feeds)
    name = hashlib.sha256(data + buf.getvalue()).hexdigest()[:12]
    REGRESSIONS.mkdir(exist_ok=True)
    (REGRESSIONS / f"{name}.npz").write_bytes(buf.getvalue())
    path = REGRESSIONS / f"{name}.onnx"
    path.write_bytes(data)
    return path


def check_and_keep(case: Case) -> None:
    """check_against_ort; hypothesis' final (shrunk) failing case is saved before it fails."""
    try:
        check_against_ort(case)
    except BaseException as e:
        if current_build_context().is_final:
            e.add_note(f"saved as {save_regression(case)}")
        raise


def load_case(path: Path) -> Case:
    with np.load(path.with_suffix(".npz")) as npz:
        feeds = {k: npz[k] for k in npz.files}
    return Case(onnx.load(path), feeds)


__all__ = ["OPS", "OnnxGraph", "Case", "onnx_cases", "check_against_ort", "check_and_keep",
           "save_regression", "load_case", "REGRESSIONS"]
