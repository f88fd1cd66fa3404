"""Random valid ONNX graphs (opset 17) for differential fuzzing against ONNX Runtime.

A graph grows from one or two inputs of one dtype (float32, or float16 in one case of
HALF_ONE_IN): each step picks a value and an op from OPS, a table op -> builder. A builder
draws the op's parameters from the value's shape and emits nodes; after each step ONNX's own
shape inference (strict) types the new value, and a step that makes a too large tensor is
rolled back. In one case of EMPTY_ONE_IN a drawn dim is 0 now and then (and a slice may be
empty), so empty tensors flow through every op; the other cases hold none. Values stay O(1)
so reassociation stays inside the tolerance: weights are scaled by 1/sqrt(fan-in), Exp reads
Tanh of its input, Sqrt reads Abs, Div divides by 1 + |y| or by a constant in +-[0.5, 2].

`check_against_ort` is the property, shared with the saved regressions: on a mismatch (or any
error) during hypothesis' final replay of the shrunk case, the model and its inputs are
written to tests/regressions/<hash>.onnx/.npz before the test fails. Where ONNX Runtime
refuses a case there is nothing to compare: TensorForge must then run it or refuse it with
a TensorForgeError.
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
from hypothesis import event, strategies as st
from hypothesis.control import current_build_context
from onnx import helper, numpy_helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

import tensorforge
from oracle import MODEL_TOLERANCE, TOLERANCE, assert_close, run_ort
from tensorforge.compiler.errors import TensorForgeError

OPSET = 17
MAX_ELEMENTS = 4096
REGRESSIONS = Path(__file__).resolve().parents[1] / "regressions"
OPT_LEVEL_KEY = "tensorforge.opt_level"  # metadata: the opt_level the case compiled with
DIMS = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 16, 17])
HALF_ONE_IN = 4    # one case in 4 is a float16 graph
EMPTY_ONE_IN = 4   # one case in 4 may hold empty tensors ...
ZERO_ONE_IN = 8    # ... where one dim in 8 drawn is 0
# Whole graphs compound roundings: float32 gets 10x its single-op tolerance (the shared
# models' tolerance); float16's single-op tolerance already spans ~10 of its ulps.
GRAPH_TOLERANCE = {"float32": MODEL_TOLERANCE, "float16": TOLERANCE["float16"]}
# What ONNX Runtime raises when it refuses a model or its inputs.
ORT_REFUSALS = (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.InvalidGraph,
                ort_errors.NotImplemented, ort_errors.RuntimeException)


# ------------------------------------------------------------------ the graph under construction

@dataclass
class OnnxGraph:
    """An ONNX graph being drawn: nodes, inputs, constants, every value's shape. Every float
    value has `dtype`; `empty` lets dims be 0."""

    draw: Callable
    dtype: str = "float32"
    empty: bool = False
    nodes: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)   # name -> shape
    inits: dict = field(default_factory=dict)    # name -> array
    shapes: dict = field(default_factory=dict)   # name -> shape of every value
    count: int = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def dim(self) -> int:
        """A dim from DIMS, or 0 one time in ZERO_ONE_IN where the case may hold empties."""
        if self.empty and self.draw(st.integers(1, ZERO_ONE_IN)) == ZERO_ONE_IN:
            return 0
        return self.draw(DIMS)

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
                          .astype(self.dtype), "w")

    def scalar(self, value: float) -> str:
        return self.const(np.asarray(value, self.dtype))

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64), "i")

    def node(self, op: str, inputs, **attrs) -> str:
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        self.shapes[out] = _inferred_shape(self.model([out]), out)
        return out

    def values(self) -> list[str]:
        """Float tensors a later op may read (not the int64 parameter constants)."""
        return [v for v in self.shapes
                if v not in self.inits or self.inits[v].dtype == self.dtype]

    def model(self, outputs) -> onnx.ModelProto:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(self.dtype))
        info = lambda n: helper.make_tensor_value_info(n, elem, self.shapes.get(n))  # noqa: E731
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
    n_extra = 0 if drop else g.draw(st.integers(0, max(0, 2 - len(dims))))
    extra = [g.dim() for _ in range(n_extra)]
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
        d = g.node("Add", [g.node("Abs", [_operand(g, x)]), g.scalar(1)])
    else:
        rng = np.random.default_rng(g.draw(st.integers(0, 2**16)))
        shape = _broadcast_partner(g, g.shapes[x])
        mag = rng.uniform(0.5, 2, shape) * rng.choice([-1, 1], shape)
        d = g.const(mag.astype(g.dtype))
    return g.node("Div", [x, d])


def clip(g, x):
    """Bounds optional, but both given in float16: ORT clips an infinity there to +-65504 or
    to +-inf depending on the Clip's neighbours (a known disagreement,
    tests/regressions/clip_float16_of_inf_between_ops.onnx)."""
    lo, hi = sorted(g.draw(st.lists(st.floats(-2, 2, width=32), min_size=2, max_size=2)))
    optional = g.dtype != "float16"
    lo_name = g.scalar(lo) if not optional or g.draw(st.booleans()) else ""
    hi_name = g.scalar(hi) if not optional or g.draw(st.booleans()) else ""
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
    """A random regrouping of the prime factors of the size; a -1 or a 0 (copy) sometimes;
    an empty tensor to a random shape holding a 0."""
    shape = g.shapes[x]
    rank = g.draw(st.integers(1, 4))
    if not math.prod(shape):
        return _reshape_empty(g, x, rank)
    factors = [p for p, k in _factorize(math.prod(shape)).items() for _ in range(k)]
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


def _reshape_empty(g: OnnxGraph, x: str, rank: int) -> str:
    """An empty tensor to any shape holding a 0: allowzero=1 makes a written 0 a dim."""
    new = [g.dim() for _ in range(rank)]
    new[g.draw(st.integers(0, rank - 1))] = 0
    return g.node("Reshape", [x, g.ints(new)], allowzero=1)


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
        other[axis] = g.dim()
        kind = g.draw(st.sampled_from(["self", "input", "const"]))
        parts.append(x if kind == "self" else
                     g.input(other) if kind == "input" else g.weight(other, 1))
    return g.node("Concat", g.draw(st.permutations(parts)), axis=axis)


def slice_(g, x):
    """Slices (empty ones only where the case may hold empties), bounds written positive,
    negative or clamped (INT64_MAX/MIN)."""
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
    start = g.draw(st.integers(0, max(d - 1, 0)))
    # one past the last element taken: d (or beyond) going up, -1 (or beyond) going down;
    # end == start takes nothing
    empty = int(g.empty)
    end = g.draw(st.integers(start + 1 - empty, d) if step > 0 else
                 st.integers(-1, start - 1 + empty))
    past = 2**63 - 1 if step > 0 else -(2**63)
    write = lambda i: (past if i in (-1, d) and g.draw(st.booleans())  # noqa: E731
                       else i - d if 0 <= i < d and g.draw(st.booleans()) else
                       -d - 1 if i == -1 else i)
    return write(start), write(end), step


def matmul(g, x):
    shape = g.shapes[x]
    if not shape:
        return None
    k = shape[-1]
    w_shape = (k,) if g.draw(st.integers(0, 4)) == 0 else (k, g.dim())
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
    n = g.dim()
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
    group = g.draw(st.sampled_from([d for d in (1, 2, 3, max(cin, 1)) if cin % d == 0]))
    cout = group * g.draw(st.integers(1, 3))
    dil = [g.draw(st.integers(1, 2)) for _ in spatial]
    pads = [g.draw(st.integers(0, 2)) for _ in range(2 * len(spatial))]
    strides = [g.draw(st.integers(1, 2)) for _ in spatial]
    padded = [s + pads[i] + pads[i + len(spatial)] for i, s in enumerate(spatial)]
    kernel = [g.draw(st.integers(1, min(3, (max(p, 1) - 1) // d + 1)))
              for p, d in zip(padded, dil)]
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
    kernel = [g.draw(st.integers(1, min(3, max(s, 1)))) for s in shape[2:]]
    pads = [g.draw(st.integers(0, k - 1)) for k in kernel * 2]
    # stride 1 along an empty axis: for stride 2 ORT counts one window there (a known
    # disagreement, tests/regressions/maxpool_stride2_of_n0_empty_spatial.onnx)
    strides = [g.draw(st.integers(1, 2)) if s else 1 for s in shape[2:]]
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
    half = draw(st.integers(1, HALF_ONE_IN)) == HALF_ONE_IN
    g = OnnxGraph(draw, "float16" if half else "float32",
                  empty=draw(st.integers(1, EMPTY_ONE_IN)) == EMPTY_ONE_IN)
    rank = draw(st.integers(0, 4))
    for _ in range(draw(st.integers(1, 2))):
        g.input([g.dim() for _ in range(rank)])
    made = []
    for _ in range(draw(st.integers(1, max_ops))):
        x = draw(st.sampled_from(made[-2:] + list(g.inputs)))
        snap = g.snapshot()
        y = OPS[draw(st.sampled_from(sorted(OPS)))](g, x)
        if y is None or math.prod(g.shapes[y]) > MAX_ELEMENTS:
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
    feeds = {n: rng.standard_normal(s).astype(g.dtype) for n, s in g.inputs.items()}
    event(f"{g.dtype} graph")
    event("empty tensors" if any(0 in s for s in g.shapes.values()) else "no empty tensor")
    return Case(model, feeds)


# ------------------------------------------------------------------ the property

def check_against_ort(case: Case) -> bool:
    """Compile and run `case` and compare every output with ONNX Runtime. Where ORT refuses
    the case, TensorForge must run it or raise a TensorForgeError (never another exception);
    returns whether there was an answer to compare."""
    try:
        want = run_ort(case.model, case.feeds)
    except ORT_REFUSALS:
        try:
            run_compiled(case)
        except TensorForgeError:
            pass
        return False
    got = run_compiled(case)
    assert len(got) == len(want)
    for out, a, b in zip(case.model.graph.output, got, want):
        assert_close(a, b, out.name, GRAPH_TOLERANCE.get(str(b.dtype)))
    return True


def run_compiled(case: Case) -> list[np.ndarray]:
    return tensorforge.compile(case.model, opt_level=case.opt_level).run(**case.feeds)


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
        if not check_against_ort(case):
            event("refused by ONNX Runtime")
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
