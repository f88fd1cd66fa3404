"""Lowering: every kernel of an optimized graph -> a scheduled loop-IR function.

    kernels = lower_graph(optimize(graph), Target.parse("llvm"))
    for k in kernels: codegen.build(k.func, target)(*inputs_of(k), *outputs_of(k))

A top-level node (a plain IR node or a Fused group) becomes tensor expressions: te
placeholders for its inputs, then each body node through its template's compute (an anchor
a template claims: dense, conv) or topi.COMPUTE (everything else; injective producers end up
inlined into the anchor's reads, the elementwise epilogue on its output tile). Constants of
one element become immediates; larger ones, tables the computes make (Resize taps, pool
divisors) and weights a template packs become constant kernel inputs (new Values for the
last two). The template's (or the generic) schedule orders the loops and te.lower writes
the PrimFunc, whose buffers are then bound to the values' shapes (te holds 0-d values as
(1,), and a template may compute an output through a same-size view).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from . import te, tir
from .graph import Graph, Node, Value
from .ops import Pattern, get_op
from .te import ComputeOp
from .templates import GENERIC_INJECTIVE, GENERIC_REDUCTION, Template, select_template
from .topi import COMPUTE
from .topi.common import LoweringError, te_shape


@dataclass(frozen=True)
class LoweredKernel:
    name: str                      # unique within the model, readable e.g. "k07_conv_relu"
    func: tir.PrimFunc             # params: one Buffer per input, then one per output, in order
    inputs: tuple[Value, ...]      # values bound to the input params (constants included)
    outputs: tuple[Value, ...]     # the node's outputs bound to the output params
    workload: str                  # structural key (no names): ops, shapes, attrs, target
    template: str                  # template name ("generic_injective", "dense", ...)
    config: dict                   # the knob values used


# ---------------------------------------------------------------- the group


def _body(node: Node) -> Graph:
    if node.op == "Fused":
        return node.attrs["body"]
    return Graph(tuple(v for v in node.inputs if not v.is_const), node.outputs, (node,), node.op)


def _anchor(body: Graph) -> tuple[Node | None, Template]:
    """The body node a template claims, else the generic template by the group's pattern."""
    claimed = [(n, t) for n in body.nodes if (t := select_template(n)) is not None]
    if claimed:
        return claimed[-1]
    heavy = [n for n in body.nodes if get_op(n.op).pattern >= Pattern.OUT_ELEMWISE_FUSABLE
             and n.op not in COMPUTE]
    if heavy:
        n = heavy[0]
        raise LoweringError(f"no schedule template or compute for {n.op} node {n.name!r} "
                            f"(inputs {[v.type_str() for v in n.inputs]}); its template is "
                            "not available")
    missing = sorted({n.op for n in body.nodes if n.op not in COMPUTE})
    if missing:
        raise LoweringError(f"cannot lower ops {missing}: no tensor-expression definition")
    reduces = any(get_op(n.op).pattern == Pattern.REDUCTION for n in body.nodes)
    return None, GENERIC_REDUCTION if reduces else GENERIC_INJECTIVE


def _check_values(node: Node, body: Graph):
    for n in body.nodes:
        for v in n.inputs + n.outputs:
            if 0 in v.shape:
                raise LoweringError(f"{n.op} node {n.name!r}: empty tensor %{v.name} "
                                    f"{v.type_str()} cannot be lowered")
            if v.dtype == "float16":
                raise LoweringError(f"{n.op} node {n.name!r}: float16 kernels are not "
                                    "supported yet")


class _Builder:
    """Tensor expressions of one group: placeholders, constants, computes."""

    def __init__(self, node: Node, anchor: Node | None, template: Template, config: dict):
        self.node, self.anchor, self.template, self.config = node, anchor, template, config
        self.body = _body(node)
        self.env: dict = {}
        self.params: list = []  # (Value, te.Tensor) in param order
        for k, v in enumerate(self.body.inputs):
            t = te.placeholder(te_shape(v.shape), v.dtype, f"in{k}")
            self.env[v] = t
            self.params.append((v, t))
        self.anchor_tensor = None
        for n in self.body.nodes:
            self._emit(n)
        self.outs = [self._output(v, k) for k, v in enumerate(self.body.outputs)]

    def _tensor(self, v: Value):
        if v not in self.env:
            if not v.is_const:
                raise LoweringError(f"value %{v.name} is used before it is defined")
            self.env[v] = self._constant(v)
        return self.env[v]

    def _constant(self, v: Value):
        if v.size == 1:  # an immediate: inlined into every read
            value = v.data.reshape(()).item()
            return te.compute(te_shape(v.shape), lambda *i: tir.Const(value, v.dtype), "imm")
        t = te.placeholder(te_shape(v.shape), v.dtype, f"c{len(self.params)}")
        self.params.append((v, t))
        return t

    def _emit(self, n: Node):
        if n is self.anchor:
            packed = self.template.pack(n, self.config) if self.template.pack else {}
            ins = [self._packed(n.inputs[k], arr) if k in packed else self._tensor(v)
                   for k, v in enumerate(n.inputs) for arr in [packed.get(k)]]
            result = self.template.compute(n, ins, self.config)
            self.anchor_tensor = result if isinstance(result, te.Tensor) else result[0]
        else:
            result = COMPUTE[n.op](n, [self._tensor(v) for v in n.inputs])
        results = (result,) if isinstance(result, te.Tensor) else tuple(result)
        for v, t in zip(n.outputs, results):
            self.env[v] = t

    def _packed(self, original: Value, data: np.ndarray):
        data = np.ascontiguousarray(data)
        data.setflags(write=False)
        v = Value(f"{original.name}.packed", tuple(data.shape), str(data.dtype), data)
        t = te.placeholder(v.shape, v.dtype, f"c{len(self.params)}")
        self.params.append((v, t))
        return t

    def _output(self, v: Value, k: int):
        """The tensor computing output k: a copy where it would be an input or a repeat."""
        t = self._tensor(v)
        earlier = [self.env[w] for w in self.body.outputs[:k]]
        if not isinstance(t.op, ComputeOp) or any(t is e for e in earlier):
            src = t
            t = te.compute(src.shape, lambda *i: src[i], f"out{k}")
        return t


def _tables(sched, known) -> list:
    """Placeholders carrying compile-time data (topi tables) that the schedule reads."""
    seen, found, todo = set(), [], list(sched.outputs)
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        if getattr(t.op, "data", None) is not None and t not in known:
            found.append(t)
        todo.extend(t.op.input_tensors())
    return found


def _rebind(func: tir.PrimFunc, shapes: dict) -> tir.PrimFunc:
    """Params get the shapes of their values (same element count, row-major)."""
    swap = {b: tir.Buffer(b.name, b.dtype, shapes[b]) for b in func.params
            if isinstance(b, tir.Buffer) and b in shapes and tuple(b.shape) != tuple(shapes[b])}
    if not swap:
        return func

    def fn(n):
        if isinstance(n, (tir.Load, tir.Store)) and n.buffer in swap:
            return dataclasses.replace(n, buffer=swap[n.buffer])
        return None

    params = tuple(swap.get(p, p) for p in func.params)
    return dataclasses.replace(func, params=params, body=tir.rewrite(func.body, fn))


# ---------------------------------------------------------------- names and keys


def _describe(node: Node) -> str:
    """The group's structure without names: ops, attrs, value types, scalar constants."""
    body = _body(node)
    ids = {v: f"i{k}" for k, v in enumerate(body.inputs)}
    lines = []
    for n in body.nodes:
        args = []
        for v in n.inputs:
            if v in ids:
                args.append(ids[v])
            elif v.is_const:
                small = f"={v.data.reshape(-1)[0]!r}" if v.size == 1 else ""
                args.append(f"const:{v.type_str()}{small}")
        for v in n.outputs:
            ids[v] = f"v{len(ids)}:{v.type_str()}"
        attrs = tuple((k, a) for k, a in n.attr_key() if not isinstance(n.attrs[k], Graph))
        lines.append(f"{n.op}({','.join(args)};{attrs})->{','.join(ids[v] for v in n.outputs)}")
    lines.append("return " + ",".join(ids[v] for v in body.outputs))
    return "\n".join(lines)


def workload(node: Node, target) -> str:
    """Structural key of a kernel for `target`: a readable head plus a hash of the whole body."""
    body = _body(node)
    anchor = node.attrs.get("anchor", node.op) if node.op == "Fused" else node.op
    ins = ",".join(v.type_str() for v in node.inputs)
    outs = ",".join(v.type_str() for v in node.outputs)
    ops = "+".join(dict.fromkeys(n.op for n in body.nodes))
    digest = hashlib.sha256(f"{_describe(node)}\n{target}".encode()).hexdigest()[:16]
    return f"{anchor}|{ins}->{outs}|{ops}|{target}|{digest}"


def _kernel_name(node: Node, index: int | None) -> str:
    body = _body(node)
    anchor = node.attrs.get("anchor", node.op) if node.op == "Fused" else node.op
    ops = list(dict.fromkeys([anchor] + [n.op for n in body.nodes
                                         if n.op not in ("Reshape", "Transpose", anchor)]))[:3]
    stem = "_".join(re.sub(r"[^a-z0-9]", "", o.lower()) for o in ops)
    return f"k{index:02d}_{stem}" if index is not None else stem


# ---------------------------------------------------------------- entry points


def _template_of(node: Node):
    body = _body(node)
    _check_values(node, body)
    return _anchor(body)


def task_space(node: Node, target) -> dict:
    """The knobs of the template that lowers `node` (for the tuner)."""
    anchor, template = _template_of(node)
    return template.space(anchor or node, target)


def _lower(node: Node, target, config: dict | None, name: str) -> LoweredKernel:
    anchor, template = _template_of(node)
    config = dict(config) if config is not None else template.default(anchor or node, target)
    b = _Builder(node, anchor, template, config)
    try:
        sched = template.schedule(b.outs, b.anchor_tensor, config, target)
    except te.TEError as err:
        raise LoweringError(f"{name}: template {template.name} cannot schedule this group: "
                            f"{err}") from None
    known = {t for _, t in b.params}
    for t in _tables(sched, known):
        data = np.ascontiguousarray(t.op.data)
        data.setflags(write=False)
        b.params.append((Value(f"{name}.{t.name}", tuple(data.shape), str(data.dtype), data), t))
    outputs = tuple(node.outputs)
    args = [t for _, t in b.params] + list(sched.outputs)
    func = te.lower(sched, args, name)
    values = [v for v, _ in b.params] + list(outputs)
    shapes = {buf: v.shape for buf, v in zip(func.params, values)}
    return LoweredKernel(name, _rebind(func, shapes), tuple(v for v, _ in b.params), outputs,
                         workload(node, target), template.name, config)


def lower_node(node: Node, target, config: dict | None = None) -> LoweredKernel:
    """One kernel for one top-level node of an optimized graph (config: the template's
    default when None)."""
    return _lower(node, target, config, _kernel_name(node, None))


def lower_graph(graph: Graph, target, configs: Mapping[str, dict] | None = None) -> list:
    """Every top-level node of `graph` (optimize()'s result) as a LoweredKernel, in order;
    `configs` maps workload keys to tuned configs."""
    kernels = []
    for k, node in enumerate(graph.nodes):
        config = (configs or {}).get(workload(node, target))
        kernels.append(_lower(node, target, config, _kernel_name(node, k)))
    return kernels
