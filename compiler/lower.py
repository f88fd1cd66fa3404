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
from .float16 import widen_float16
from .graph import Graph, Node, Value
from .ops import Pattern, get_op
from .te import ComputeOp
from .templates import (GENERIC_INJECTIVE, GENERIC_REDUCTION, GPU_INJECTIVE, GPU_REDUCTION,
                        Template, alternative_templates, select_template, target_kind)
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
    workspace: tuple[Value, ...] = ()  # scratch bound to the last params (see _workspace)


# ---------------------------------------------------------------- the group


def _body(node: Node) -> Graph:
    if node.op == "Fused":
        return node.attrs["body"]
    return Graph(tuple(v for v in node.inputs if not v.is_const), node.outputs, (node,), node.op)


# (injective, reduction) templates for groups no template claims, one pair per target kind
GENERIC_TEMPLATES = ((GENERIC_INJECTIVE, GENERIC_REDUCTION), (GPU_INJECTIVE, GPU_REDUCTION))


def _anchor(body: Graph, target=None, name: str | None = None) -> tuple[Node | None, Template]:
    """The body node a template claims (the template called `name` when given: a config
    naming an alternative template), else the generic template by the group's pattern.
    A node touching an empty tensor is left to its plain compute (a product over an empty
    axis is a fill: nothing for a template to tile)."""
    claimed = [(n, t) for n in body.nodes if not _touches_empty(n)
               and (t := select_template(n, target, name)) is not None]
    if claimed:
        return claimed[-1]
    if name:
        raise LoweringError(f"the config names template {name!r}, which does not apply to "
                            f"any node of {[n.op for n in body.nodes]} on {target}")
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
    kind = target_kind(target)
    injective, reduction = next(pair for pair in GENERIC_TEMPLATES
                                if kind in pair[0].target_kinds)
    return None, reduction if reduces else injective


# ---------------------------------------------------------------- empty tensors
# An empty tensor (a 0 among its dims) is a legal value that holds no bytes: a kernel never
# takes one as a parameter (so it needs no memory), a node whose outputs are all empty is not
# computed, and a node with no non-empty output is no kernel at all. An empty value is a te
# placeholder outside the params: the reductions over it (te: an empty reduction is its init)
# and the selects that skip it never read it; a compute that does read it fails te.lower,
# which becomes a LoweringError naming the node.


def _is_empty(v: Value) -> bool:
    return v.size == 0


def _touches_empty(n: Node) -> bool:
    return any(map(_is_empty, n.inputs + n.outputs))


def writes_nothing(node: Node) -> bool:
    """Whether every output of a top-level node is empty: its kernel would do nothing, so
    lower_graph builds none (and the tuner has no task)."""
    return all(map(_is_empty, node.outputs))


class _Builder:
    """Tensor expressions of one group: placeholders, constants, computes."""

    def __init__(self, node: Node, body: Graph, anchor: Node | None, template: Template,
                 config: dict):
        self.node, self.anchor, self.template, self.config = node, anchor, template, config
        self.body = body
        self.env: dict = {}
        self.params: list = []  # (Value, te.Tensor) in param order
        self.empties: dict = {}  # te placeholder of an empty value -> the value
        for k, v in enumerate(self.body.inputs):
            if _is_empty(v):
                self.env[v] = self._empty(v)
                continue
            t = te.placeholder(te_shape(v.shape), v.dtype, f"in{k}")
            self.env[v] = t
            self.params.append((v, t))
        self.anchor_tensor = None
        for n in self.body.nodes:
            self._emit(n)
        self.outs = [self._output(v, k) for k, v in enumerate(self.body.outputs)
                     if not _is_empty(v)]

    def _tensor(self, v: Value):
        if v not in self.env:
            if not v.is_const:
                raise LoweringError(f"value %{v.name} is used before it is defined")
            self.env[v] = self._constant(v)
        return self.env[v]

    def _constant(self, v: Value):
        if _is_empty(v):
            return self._empty(v)
        if v.size == 1:  # an immediate: inlined into every read
            value = v.data.reshape(()).item()
            return te.compute(te_shape(v.shape), lambda *i: tir.Const(value, v.dtype), "imm")
        t = te.placeholder(te_shape(v.shape), v.dtype, f"c{len(self.params)}")
        self.params.append((v, t))
        return t

    def _emit(self, n: Node):
        if writes_nothing(n):
            self.env.update((v, self._empty(v)) for v in n.outputs)
            return
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

    def _empty(self, v: Value) -> te.Tensor:
        """An empty value: a placeholder no kernel param binds (there is nothing to pass)."""
        t = te.placeholder(v.shape, v.dtype, f"empty.{v.name}")
        self.empties[t] = v
        return t

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


def _reachable(outs) -> list:
    """Every tensor the tensors `outs` are computed from (themselves included)."""
    seen, order, todo = set(), [], list(outs)
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        order.append(t)
        todo.extend(t.op.input_tensors())
    return order


def _tables(sched, known) -> list:
    """Placeholders carrying compile-time data (topi tables) that the schedule reads."""
    return [t for t in _reachable(sched.outputs)
            if getattr(t.op, "data", None) is not None and t not in known]


def _check_no_empty_reads(node: Node, outs, empties: dict):
    """An empty tensor has no element to read: a compute reading one (Gather from an empty
    axis, Resize of an empty image) is refused; ONNX Runtime fails on these too."""
    for t in _reachable(outs):
        read = [empties[x] for x in t.op.input_tensors() if x in empties]
        if read:
            raise LoweringError(f"{node.op} node {node.name!r}: {t.name} reads the empty tensor "
                                f"%{read[0].name} {read[0].type_str()}, which has no elements")


def _rebind(func: tir.PrimFunc, shapes: dict) -> tir.PrimFunc:
    """Params get the shapes of their values (same element count, row-major)."""
    swap = {b: tir.Buffer(b.name, b.dtype, shapes[b]) for b in func.params
            if isinstance(b, tir.Buffer) and b in shapes and tuple(b.shape) != tuple(shapes[b])}
    if not swap:
        return func
    params = tuple(swap.get(p, p) for p in func.params)
    return dataclasses.replace(func, params=params, body=_swap_buffers(func.body, swap))


def _swap_buffers(body: tir.Stmt, swap: dict) -> tir.Stmt:
    """`body` with the loads and stores of each buffer in `swap` going to its replacement."""
    def fn(n):
        if isinstance(n, (tir.Load, tir.Store)) and n.buffer in swap:
            return dataclasses.replace(n, buffer=swap[n.buffer])
        return None
    return tir.rewrite(body, fn)


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


def _template_of(node: Node, target=None, template: str | None = None):
    """The group's graph as its kernel computes it (float16 arithmetic in float32, see
    compiler/float16.py), the node a template claims in it for `target` (the template named
    `template` when given), and that template."""
    body = widen_float16(_body(node))
    return (body, *_anchor(body, target, template))


def alternatives(node: Node, target) -> list[str]:
    """The alternative templates (Template.alternative) that could lower `node` on
    `target`: the tuner measures each beside the default template."""
    body = widen_float16(_body(node))
    return [name for n in body.nodes if not _touches_empty(n)
            for name in alternative_templates(n, target)]


def task_space(node: Node, target, template: str | None = None) -> dict:
    """The knobs of the template that lowers `node` (for the tuner): its default template,
    or the alternative one called `template`."""
    _, anchor, t = _template_of(node, target, template)
    return t.space(anchor or node, target)


def task_default(node: Node, target, template: str | None = None) -> dict:
    """The config `node` is lowered with untuned (its template's default), or the default
    of the alternative template called `template`."""
    _, anchor, t = _template_of(node, target, template)
    return t.default(anchor or node, target)


def _lower(node: Node, target, config: dict | None, name: str) -> LoweredKernel:
    body, anchor, template = _template_of(node, target, (config or {}).get("template"))
    config = dict(config) if config is not None else template.default(anchor or node, target)
    b = _Builder(node, body, anchor, template, config)
    if b.empties:
        _check_no_empty_reads(node, b.outs, b.empties)
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
    outputs = tuple(v for v in node.outputs if not _is_empty(v))
    args = [t for _, t in b.params] + list(sched.outputs)
    func, workspace = _workspace(te.lower(sched, args, name, target), name)
    values = [v for v, _ in b.params] + list(outputs)
    shapes = {buf: v.shape for buf, v in zip(func.params, values)}
    return LoweredKernel(name, _rebind(func, shapes), tuple(v for v, _ in b.params), outputs,
                         workload(node, target), template.name, config, workspace)


def _workspace(func: tir.PrimFunc, name: str) -> tuple[tir.PrimFunc, tuple[Value, ...]]:
    """The kernel-wide scratch buffers (te.lower's root "global" Allocates: a padded input,
    Winograd's transformed tiles) become trailing params, each bound to a Value of its own,
    so the memory plan places them in the arena beside the other temporaries (live for
    this kernel's call only) instead of the kernel allocating and freeing heap memory on
    every call (glibc returns big blocks to the OS on free: page faults on the next call)."""
    body, bufs = func.body, []
    while isinstance(body, tir.Allocate) and body.buffer.scope == "global":
        bufs.append(body.buffer)
        body = body.body
    if not bufs:
        return func, ()
    params = tuple(tir.Buffer(b.name, b.dtype, b.shape) for b in bufs)
    func = dataclasses.replace(func, params=func.params + params,
                               body=_swap_buffers(body, dict(zip(bufs, params))))
    return func, tuple(Value(f"{name}.{b.name}", tuple(b.shape), b.dtype) for b in bufs)


def lower_node(node: Node, target, config: dict | None = None) -> LoweredKernel:
    """One kernel for one top-level node of an optimized graph (config: the template's
    default when None)."""
    if writes_nothing(node):
        raise LoweringError(f"{node.op} node {node.name!r} has only empty outputs "
                            f"{[v.type_str() for v in node.outputs]}: there is no kernel")
    return _lower(node, target, config, _kernel_name(node, None))


def lower_graph(graph: Graph | list, target, configs: Mapping[str, dict] | None = None) -> list:
    """Every top-level node of `graph` (optimize()'s result) as a LoweredKernel, in order,
    but those that write nothing; `configs` maps workload keys to tuned configs.
    `graph` may be a list of its nodes instead, which is emptied as kernels are made: where the
    list holds the last reference to a node, the weights its kernel packed are freed before
    the next node packs its own (compile then holds about one copy of the weights)."""
    nodes = graph if isinstance(graph, list) else list(graph.nodes)
    kernels = []
    for k in range(len(nodes)):
        node, nodes[k] = nodes[k], None
        if writes_nothing(node):
            continue
        config = (configs or {}).get(workload(node, target))
        kernels.append(_lower(node, target, config, _kernel_name(node, k)))
    return kernels
