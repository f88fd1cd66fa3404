"""ONNX ModelProto -> graph IR.

Every node goes through the converter registered for its (op type, opset); converters resolve
static parameters (Reshape's shape, Slice's starts, ...) to attributes with `ctx.value_of`, which
evaluates the shape-computing subgraph on demand, so the Shape -> Gather -> Concat chains that
exporters emit are left dead and vanish in dead-code elimination.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import InputError, ModelError, ShapeError, UnsupportedModelError
from ..graph import Graph, GraphBuilder, Node, Value, rename_values
from ..ops import run_op
from .dtypes import check_dtypes
from .registry import MAX_OPSET, MIN_OPSET, lookup

ModelLike = "str | os.PathLike | bytes | onnx.ModelProto"

# Ops whose result depends only on their input's shape: evaluated without the input's data.
SHAPE_ONLY_OPS = {"Shape", "Size"}


@dataclass
class OnnxNode:
    """An ONNX node as converters see it: inputs as IR Values (None where omitted)."""

    op_type: str
    name: str
    inputs: list[Value | None]
    outputs: list[str]
    attrs: dict[str, Any]
    opset: int

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def where(self) -> str:
        return f"node '{self.name}' ({self.op_type}, opset {self.opset})"


@dataclass
class ConvertContext:
    """What a converter may do: emit IR nodes, make constants, read compile-time values."""

    builder: GraphBuilder
    node: OnnxNode | None = None
    _producer: dict[int, Node] = field(default_factory=dict)
    _known: dict[int, np.ndarray] = field(default_factory=dict)

    def emit(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any] | None = None,
             n_out: int | None = None) -> tuple[Value, ...]:
        hints = [o for o in self.node.outputs if o] if self.node else []
        outs = self.builder.emit(op, inputs, attrs, name=self.node.name if self.node else "",
                                 out_names=hints)
        for o in outs:
            self._producer[id(o)] = self.builder.nodes[-1]
        return outs

    def emit1(self, op: str, inputs: Sequence[Value],
              attrs: Mapping[str, Any] | None = None) -> Value:
        outs = self.emit(op, inputs, attrs)
        if len(outs) != 1:
            raise ShapeError(f"{self.node.where}: {op} produced {len(outs)} outputs, expected 1")
        return outs[0]

    def const(self, data: Any, dtype: str | None = None, name: str = "const") -> Value:
        return self.builder.const(data, name=name, dtype=dtype)

    def is_known(self, v: Value) -> bool:
        try:
            self.value_of(v)
            return True
        except ShapeError:
            return False

    def value_of(self, v: Value, what: str = "input") -> np.ndarray:
        """The compile-time value of `v`, evaluating its producers; a ShapeError if it depends
        on graph inputs' data."""
        if v.is_const:
            return v.data
        if id(v) in self._known:
            return self._known[id(v)]
        node = self._producer.get(id(v))
        if node is None:
            where = self.node.where if self.node else "graph"
            raise ShapeError(f"{where}: {what} %{v.name} must be known at compile time, but it "
                             "depends on a graph input's data")
        if node.op in SHAPE_ONLY_OPS:
            args = [np.broadcast_to(np.zeros((), x.dtype), x.shape) for x in node.inputs]
        else:
            args = [self.value_of(x, what) for x in node.inputs]
        for o, arr in zip(node.outputs, run_op(node.op, args, node.attrs)):
            self._known[id(o)] = arr
        return self._known[id(v)]


def load_model(model: Any) -> onnx.ModelProto:
    """Read a path, bytes or ModelProto and run onnx.checker; errors become ModelError.

    A file is checked by path before Python parses it, so the checker's own copy of a large
    model is gone before onnx.load makes ours (peak ~2x the file instead of ~3x)."""
    path = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    if path is not None and not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if not isinstance(model, (onnx.ModelProto, bytes, bytearray, memoryview)) and path is None:
        raise ModelError(f"expected a path, bytes or onnx.ModelProto, got {type(model).__name__}")
    if path is not None:
        _check(path)
    try:
        if isinstance(model, onnx.ModelProto):
            proto = model
        elif path is None:
            proto = onnx.load_model_from_string(bytes(model))
        else:
            proto = onnx.load(path)
    except Exception as e:  # protobuf raises DecodeError, RuntimeError, ... on corrupt files
        raise ModelError(f"cannot parse ONNX model: {e}") from None
    if path is None:
        _check(proto)
    return proto


def _check(model) -> None:
    """onnx.checker; any failure in it (its ValidationError, or a UnicodeDecodeError when its
    message quotes a corrupt name) is a ModelError."""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        if "Unable to parse proto" in str(e):  # checked by path: not a protobuf at all
            raise ModelError(f"cannot parse ONNX model: {str(e).strip()}") from None
        raise ModelError(f"invalid ONNX model (onnx.checker): {e}") from None
    except Exception as e:  # noqa: BLE001 - the checker's C++ side raises assorted types
        raise ModelError(f"cannot parse ONNX model: {type(e).__name__}: {e}") from None


def _initializer(t: onnx.TensorProto) -> np.ndarray:
    """An initializer's data; data that does not fit its declared shape is a ModelError."""
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # noqa: BLE001 - numpy/onnx raise ValueError, TypeError, ...
        raise ModelError(f"initializer '{t.name}' (shape {list(t.dims)}) is corrupt: {e}") from None


def model_opset(proto: onnx.ModelProto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ModelError("model imports no version of the default ONNX operator set")


def check_supported(proto: onnx.ModelProto, opset: int) -> None:
    """Refuse the model once, listing every node whose (op type, opset, domain) is unknown."""
    bad = []
    for i, n in enumerate(proto.graph.node):
        name = n.name or f"#{i}"
        if n.domain not in ("", "ai.onnx"):
            bad.append((f"{n.domain}::{n.op_type}", opset, name))
        elif lookup(n.op_type, opset) is None:
            bad.append((n.op_type, opset, name))
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedModelError(
            [(n.op_type, opset, n.name or f"#{i}") for i, n in enumerate(proto.graph.node)][:5],
            f"opset {opset} is outside the supported range {MIN_OPSET}..{MAX_OPSET}")
    if bad:
        raise UnsupportedModelError(bad)
    check_dtypes(proto, opset)


def _input_shape(vi: onnx.ValueInfoProto, given: Mapping[str, Sequence[int]]) -> tuple[int, ...]:
    tt = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tt.shape.dim]
    if vi.name in given:
        shape = tuple(int(d) for d in given[vi.name])
        if tt.HasField("shape") and (len(shape) != len(dims) or any(
                isinstance(d, int) and d != s for d, s in zip(dims, shape))):
            raise InputError(f"input '{vi.name}': model declares shape {dims}, given {list(shape)}")
        if any(d < 0 for d in shape):
            raise InputError(f"input '{vi.name}': negative dimension in {list(shape)}")
        return shape
    symbolic = [d for d in dims if not isinstance(d, int)]
    if symbolic:
        raise InputError(f"input '{vi.name}' has dynamic dimension(s) {symbolic} in shape {dims}; "
                         f"pass inputs={{'{vi.name}': (...)}} with concrete sizes")
    return tuple(dims)


def from_onnx(model: Any, inputs: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Convert an ONNX model (path, bytes or ModelProto) to a verified graph IR.

    `inputs` maps input names to concrete shapes; it is required for dynamic dimensions."""
    proto = load_model(model)
    opset = model_opset(proto)
    check_supported(proto, opset)
    g = proto.graph
    given = dict(inputs or {})
    init_names = {t.name for t in g.initializer}
    unknown = set(given) - {vi.name for vi in g.input if vi.name not in init_names}
    if unknown:
        raise InputError(f"inputs= names {sorted(unknown)} are not model inputs; the model's "
                         f"inputs are {[vi.name for vi in g.input if vi.name not in init_names]}")

    builder = GraphBuilder(g.name or "main")
    for out in g.output:  # graph outputs keep their ONNX names: reserve them up front
        builder.fresh(out.name)
    ctx = ConvertContext(builder)
    env: dict[str, Value] = {}
    for t in g.initializer:
        env[t.name] = builder.const(_initializer(t), name=t.name)
    for vi in g.input:
        if vi.name in init_names:
            continue
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedModelError([("non-tensor input", opset, vi.name)])
        dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        builder.release(vi.name)
        env[vi.name] = builder.input(vi.name, _input_shape(vi, given), str(dtype))

    for i, n in enumerate(g.node):
        node = OnnxNode(n.op_type, n.name or f"{n.op_type}_{i}",
                        [env[x] if x else None for x in n.input], list(n.output),
                        {a.name: _attr_value(a) for a in n.attribute}, opset)
        missing = [x for x in n.input if x and x not in env]
        if missing:
            raise ModelError(f"{node.where}: inputs {missing} are not defined before use")
        ctx.node = node
        try:
            result = lookup(n.op_type, opset)(ctx, node)
        except ShapeError as e:
            msg = str(e)
            raise ShapeError(msg if node.name in msg else f"{node.where}: {msg}") from None
        results = [result] if isinstance(result, Value) else list(result)
        for name, v in zip(n.output, results):
            if name:
                env[name] = v
    ctx.node = None
    return _name_outputs(builder, [env[o.name] for o in g.output], [o.name for o in g.output])


def _name_outputs(builder: GraphBuilder, values: list[Value], names: list[str]) -> Graph:
    """Give graph outputs their ONNX names; an output that is an input, a constant or another
    output's value gets an Identity node so each output name is a distinct value."""
    rename: dict[Value, str] = {}
    outputs: list[Value] = []
    produced = {o for n in builder.nodes for o in n.outputs}
    for v, name in zip(values, names):
        if v.name == name:
            outputs.append(v)
        elif v in produced and v not in rename:
            rename[v] = name
            outputs.append(v)
        else:
            builder.release(name)
            outputs.append(builder.emit1("Identity", [v], out_name=name))
    graph = builder.build(outputs)
    return rename_values(graph, rename).verify()


def _attr_value(a: onnx.AttributeProto) -> Any:
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list):
        return tuple(x.decode("utf-8") if isinstance(x, bytes) else x for x in v)
    if isinstance(v, onnx.GraphProto):
        raise UnsupportedModelError([("subgraph attribute", 0, a.name)])
    return v
