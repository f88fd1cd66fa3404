"""TensorForge as an ONNX backend (onnx.backend.base): the interface ONNX's own conformance
suite and other ONNX tools drive.

    import tensorforge.onnx_backend as backend
    rep = backend.prepare(model, "CPU")       # compiles through tensorforge.compile
    y, = rep.run([x])                         # outputs in graph order
    backend.run_node(onnx.helper.make_node("Relu", ["x"], ["y"]), [x])

Everything runs through the real pipeline (frontend, passes, lowering, LLVM, runtime), never
the reference executor. TensorForge compiles for static shapes and static parameters, while an
ONNX model may feed a dynamic dimension, or a parameter such as Reshape's shape, as a graph
input. Such a model compiles at its first run instead of in `prepare`: dynamic dimensions take
the fed shapes, and each input the compiler needs at compile time is bound to its fed value
(moved into the initializers). A representation keeps one module per distinct binding.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from .api import compile as tf_compile
from .compiler.errors import InputError, ShapeError, TensorForgeError, UnsupportedModelError
from .compiler.frontend import MAX_OPSET, MIN_OPSET
from .compiler.frontend.dtypes import unsupported_dtypes
from .compiler.frontend.elementwise import DEFAULT_RATIO, RANDOM_DROPOUT, is_random_dropout
from .compiler.frontend.importer import load_model, model_opset
from .compiler.frontend.registry import lookup
from .runtime.module import Module

# The frontend's ShapeError when a converter needs the data of a graph input (importer.py).
_NEEDS_VALUE = re.compile(r"%(\S+) must be known at compile time")


class UnsupportedDeviceError(TensorForgeError):
    """The ONNX backend was asked for a device TensorForge cannot run on."""


StaticValue = Callable[[onnx.NodeProto, int, Any], Any]


def _dropout_rule(node: onnx.NodeProto, value: StaticValue) -> str | None:
    """A Dropout that draws a random mask (training_mode true, ratio above 0). Values known
    only at run time are left to the frontend, which refuses such a Dropout when it compiles."""
    training, ratio = value(node, 2, False), value(node, 1, DEFAULT_RATIO)
    if training is None or ratio is None or not is_random_dropout(training, ratio):
        return None
    return f"Dropout {node.name or '(unnamed)'!r}: {RANDOM_DROPOUT}"


# Rules on a node's attributes and static inputs that a converter exists for but refuses:
# op type -> rule(node, value) giving the reason, or None when the node is claimed.
NODE_RULES: dict[str, Callable[[onnx.NodeProto, StaticValue], str | None]] = {
    "Dropout": _dropout_rule}


def _static_value(model: onnx.ModelProto, inputs: Mapping[str, Any]) -> StaticValue:
    """value(node, i, default): node input i's value, read when asked from `inputs`, an
    initializer or a Constant node; `default` when the input is omitted, None when the value
    is known only at run time."""
    protos = {t.name: t for t in model.graph.initializer}
    protos.update((n.output[0], a.t) for n in model.graph.node if n.op_type == "Constant"
                  for a in n.attribute if a.name == "value")

    def value(node, i, default):
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            return default
        if name in inputs:
            return np.asarray(inputs[name])
        return numpy_helper.to_array(protos[name]) if name in protos else None
    return value


def unsupported_reason(model: onnx.ModelProto,
                       inputs: Mapping[str, Any] | None = None) -> str | None:
    """Why TensorForge does not claim `model` (every reason found, joined), or None if every
    node is a converted ai.onnx op at a supported opset that NODE_RULES do not refuse, every
    graph input and output is a tensor and every tensor's element type has a NumPy dtype.
    `inputs` (name -> array) gives graph inputs' values for the rules to read."""
    reasons = []
    opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), None)
    if opset is None:
        reasons.append("no ai.onnx opset imported")
    elif not MIN_OPSET <= opset <= MAX_OPSET:
        reasons.append(f"opset {opset} outside {MIN_OPSET}..{MAX_OPSET}")
    domains = sorted({n.domain for n in model.graph.node} - {"", "ai.onnx"})
    if domains:
        reasons.append(f"domain {', '.join(domains)}")
    missing = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")
                      and lookup(n.op_type, opset or MAX_OPSET) is None})
    if missing:
        reasons.append(f"op not converted: {', '.join(missing)}")
    value = _static_value(model, inputs or {})
    reasons += [why for n in model.graph.node if n.domain in ("", "ai.onnx")
                and n.op_type in NODE_RULES and (why := NODE_RULES[n.op_type](n, value))]
    dtypes = sorted({dtype for dtype, _, _ in unsupported_dtypes(model.graph)})
    if dtypes:
        reasons.append(f"dtype without NumPy equivalent: {', '.join(dtypes)}")
    typed = [*model.graph.input, *model.graph.output]
    if any(not vi.type.HasField("tensor_type") for vi in typed):
        reasons.append("non-tensor graph input or output (sequence, optional, map)")
    return "; ".join(reasons) or None


class TensorForgeRep(BackendRep):
    """A prepared model: `run(inputs)` returns its outputs in graph order.

    `inputs` is a sequence in graph-input order or a mapping from input name."""

    def __init__(self, model: onnx.ModelProto, target: str = "llvm"):
        self.model, self.target = model, target
        inits = {t.name for t in model.graph.initializer}
        self.input_names = [vi.name for vi in model.graph.input if vi.name not in inits]
        self.output_names = [vi.name for vi in model.graph.output]
        self.bound: set[str] = set()              # inputs the compiler needs the value of
        self.modules: dict[tuple, Module] = {}    # one per (fed shapes, bound values)
        declared = {vi.name: _static_shape(vi) for vi in model.graph.input if vi.name not in inits}
        if all(s is not None for s in declared.values()):
            try:
                self.modules[self._key(declared, {})] = tf_compile(model, target)
            except ShapeError as e:               # a parameter is an input: compile at run
                if not _NEEDS_VALUE.search(str(e)):
                    raise

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        feeds = self._bind(inputs)
        module = self._module(feeds)
        outs = module.run(**{k: a for k, a in feeds.items() if k not in self.bound})
        return namedtupledict("Outputs", self.output_names)(*outs)

    def _bind(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            given = dict(inputs)
        else:
            inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            if len(inputs) != len(self.input_names):
                raise InputError(f"model takes {len(self.input_names)} input(s) "
                                 f"{self.input_names}, got {len(inputs)}")
            given = dict(zip(self.input_names, inputs))
        unknown = set(given) - set(self.input_names)
        if unknown:
            raise InputError(f"unknown input(s) {sorted(unknown)}; the model's inputs are "
                             f"{self.input_names}")
        return {k: np.asarray(given[k]) for k in self.input_names if k in given}

    def _key(self, shapes: Mapping[str, tuple], values: Mapping[str, np.ndarray]) -> tuple:
        return (tuple((k, tuple(s)) for k, s in shapes.items() if k not in values),
                tuple((k, v.dtype.str, v.shape, v.tobytes()) for k, v in values.items()))

    def _module(self, feeds: Mapping[str, np.ndarray]) -> Module:
        """The module for these feeds' shapes and bound values, compiled on first need; a
        compile-time ShapeError naming an input binds that input and compiles again."""
        while True:
            values = {k: feeds[k] for k in self.input_names if k in self.bound and k in feeds}
            shapes = {k: a.shape for k, a in feeds.items()}
            key = self._key(shapes, values)
            if key in self.modules:
                return self.modules[key]
            try:
                module = tf_compile(_bind_inputs(self.model, values), self.target,
                                    inputs={k: s for k, s in shapes.items() if k not in values})
            except ShapeError as e:
                needed = _NEEDS_VALUE.search(str(e))
                if not needed or needed.group(1) not in feeds or needed.group(1) in self.bound:
                    raise
                self.bound.add(needed.group(1))
                continue
            self.modules[key] = module
            return module


class TensorForgeBackend(Backend):
    """onnx.backend.base.Backend over tensorforge.compile; CPU only (target "llvm" by
    default, `target=` in kwargs picks another CPU target)."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except AttributeError:                    # an unknown device type name
            return False

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device) and unsupported_reason(model) is None

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU",
                **kwargs: Any) -> TensorForgeRep:
        if not cls.supports_device(device):
            raise UnsupportedDeviceError(f"TensorForge's ONNX backend runs on CPU only, not "
                                         f"on {device!r}")
        proto = load_model(model)
        reason = unsupported_reason(proto)
        if reason:
            opset = model_opset(proto)
            nodes = [(n.op_type, opset, n.name or f"#{i}") for i, n in enumerate(proto.graph.node)]
            raise UnsupportedModelError([r for r in nodes if lookup(r[0], opset) is None]
                                        or nodes[:5], reason)
        return TensorForgeRep(proto, kwargs.get("target", "llvm"))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence | None = None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run one node: a one-node model over `inputs` (a sequence matching node.input, or a
        mapping by name) at opset `opset_version` (default: the newest TensorForge converts)."""
        names = [x for x in node.input if x]
        feeds = dict(inputs) if isinstance(inputs, Mapping) else dict(zip(names, inputs))
        model = _node_model(node, feeds, kwargs.pop("opset_version", MAX_OPSET))
        return cls.run_model(model, feeds, device, **kwargs)


def _static_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    dims = vi.type.tensor_type.shape.dim
    if not vi.type.tensor_type.HasField("shape") or any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _bind_inputs(model: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """`model` with the inputs in `values` turned into initializers holding those values."""
    if not values:
        return model
    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    kept = [vi for vi in bound.graph.input if vi.name not in values]
    del bound.graph.input[:]
    bound.graph.input.extend(kept)
    bound.graph.initializer.extend(numpy_helper.from_array(a, k) for k, a in values.items())
    return bound


def _node_model(node: onnx.NodeProto, feeds: Mapping[str, np.ndarray],
                opset: int) -> onnx.ModelProto:
    """A model of the single `node`, inputs typed from `feeds`, outputs typed by ONNX's shape
    inference (the checker wants typed outputs; TensorForge infers its own)."""
    def info(name, a):
        a = np.asarray(a)
        return onnx.helper.make_tensor_value_info(
            name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
    graph = onnx.helper.make_graph([node], f"{node.op_type}_node",
                                   [info(k, a) for k, a in feeds.items()],
                                   [onnx.ValueInfoProto(name=o) for o in node.output if o])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    typed = onnx.shape_inference.infer_shapes(model)
    del model.graph.output[:]
    model.graph.output.extend(typed.graph.output)
    return model


prepare = TensorForgeBackend.prepare
run_model = TensorForgeBackend.run_model
run_node = TensorForgeBackend.run_node
supports_device = TensorForgeBackend.supports_device
is_compatible = TensorForgeBackend.is_compatible

__all__ = ["TensorForgeBackend", "TensorForgeRep", "UnsupportedDeviceError", "prepare",
           "run_model", "run_node", "supports_device", "is_compatible", "unsupported_reason"]
