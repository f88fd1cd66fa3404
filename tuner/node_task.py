"""A tuning task for one kernel of a model: a top-level node of an optimized graph.

    task = NodeTask(node, "llvm")          # workload key = lower.workload(node, target)
    func, constants = task.build(config)   # lower_node(node, target, config)
    fn = task.load((func, constants))      # in the worker: fn(*inputs, *outputs)

A config may change the kernel's constant parameters (the conv template packs its weights
by the tile it picked) and its workspace (scratch sized by the tiles), so the artifact
carries them and the worker's callable takes only what is the same for every config: the
node's runtime inputs (random arrays) then its outputs. The reference is the default
config's output, the kernel `compile` builds untuned (for a task of an alternative template
too: Winograd is checked against the direct convolution).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..codegen import Target
from ..compiler import tir
from ..compiler.graph import Node
from ..compiler.lower import lower_node, task_default, task_space, workload
from ..compiler.topi.conv import geometry
from .features import featurize
from .space import Config, ConfigSpace


def _conv_flops(node: Node) -> float:
    return float(geometry(node).flops())


def _matmul_flops(node: Node) -> float:
    a = node.inputs[0].shape
    k = a[0] if node.op == "Gemm" and node.attrs.get("transA") else a[-1]
    return 2.0 * math.prod(node.outputs[0].shape) * k


# anchor op -> flops of that node; anything else counts one flop per output element
FLOPS = {"Conv": _conv_flops, "ConvTranspose": _conv_flops, "MatMul": _matmul_flops,
         "Gemm": _matmul_flops}


def _anchor_node(node: Node) -> Node:
    """The body node named by a Fused group's anchor attribute (the node itself otherwise)."""
    if node.op != "Fused":
        return node
    anchor = node.attrs.get("anchor")
    body = node.attrs["body"].nodes
    return next((n for n in reversed(body) if n.op == anchor), body[-1])


def estimate_flops(node: Node) -> float:
    """Floating-point operations of one run of a kernel (its anchor's; elementwise work is
    one per output element of each body node)."""
    anchor = _anchor_node(node)
    if anchor.op in FLOPS:
        return FLOPS[anchor.op](anchor)
    body = node.attrs["body"].nodes if node.op == "Fused" else (node,)
    return float(sum(math.prod(v.shape) for n in body for v in n.outputs))


@dataclass(frozen=True)
class Scratch:
    """A workspace param in an artifact: allocated where the kernel is loaded."""

    shape: tuple
    dtype: str


def allocate_scratch(constants: tuple) -> tuple:
    """An artifact's constants with an array for each Scratch (made once, at load)."""
    return tuple(np.empty(c.shape, c.dtype) if isinstance(c, Scratch) else c for c in constants)


def bind_params(constants: tuple, args: Sequence) -> tuple[list, list[int]]:
    """A kernel's params in order, and the param index each of `args` went to: `constants`
    (an artifact's, scratch allocated) with `args` filling its None slots in order and the
    rest of `args` after them (all of them for a bare PrimFunc artifact: no constants)."""
    free = [k for k, c in enumerate(constants) if c is None]
    if len(args) < len(free):
        raise ValueError(f"the kernel takes {len(free)} arguments, got {len(args)}")
    slots = free + list(range(len(constants), len(constants) + len(args) - len(free)))
    params = [*constants, *[None] * (len(args) - len(free))]
    for k, a in zip(slots, args):
        params[k] = a
    return params, slots


def _call(kernel, constants: tuple, *args):
    kernel(*bind_params(constants, args)[0])


@dataclass(eq=False)
class NodeTask:
    """The Task (tuner/task.py) of a graph node; `weight` is how many kernels of the model
    share its workload. `template`: the template whose space is searched, the node's
    default one when None, or an alternative one (lower.task_space); tasks of one node
    share its workload key, so compile takes the fastest record of any of them. Pickles
    into workers without its caches."""

    node: Node
    target: str
    weight: int = 1
    seed: int = 0
    template: str | None = None
    workload: str = field(init=False)
    space: ConfigSpace = field(init=False)
    flops: float = field(init=False)
    outputs: tuple = field(init=False)
    default: dict = field(init=False)                  # the template's default config
    _inputs: tuple = field(init=False, repr=False)     # (shape, dtype) of each runtime input
    _features: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        target = self.target if isinstance(self.target, Target) else Target.parse(self.target)
        self.target = str(target)
        self.workload = workload(self.node, target)
        self.space = ConfigSpace(task_space(self.node, target, self.template))
        self.flops = estimate_flops(self.node)
        kernel = lower_node(self.node, target, task_default(self.node, target, self.template))
        self.template, self.default = kernel.template, kernel.config
        free = [(p.shape, p.dtype) for p, v in zip(kernel.func.params, kernel.inputs)
                if not v.is_const]
        self._inputs = tuple(free)
        self.outputs = tuple(range(len(free), len(free) + len(kernel.outputs)))

    def build(self, config: Config | None) -> tuple[tir.PrimFunc, tuple]:
        """(PrimFunc, constants): one array per constant param, a Scratch per workspace param,
        None for the others."""
        kernel = lower_node(self.node, self.target, config)
        constants = tuple(v.data if v.is_const else None for v in kernel.inputs)
        scratch = tuple(Scratch(v.shape, v.dtype) for v in kernel.workspace)
        return kernel.func, constants + (None,) * len(kernel.outputs) + scratch

    def load(self, artifact) -> functools.partial:
        from ..codegen import build
        func, constants = artifact
        return functools.partial(_call, build(func, self.target), allocate_scratch(constants))

    def arguments(self) -> list[np.ndarray]:
        """Random runtime inputs (standard normal; 0/1 for integers), zeroed outputs."""
        rng = np.random.default_rng(self.seed)
        ins = [rng.standard_normal(s).astype(d) if np.dtype(d).kind == "f"
               else rng.integers(0, 2, s).astype(d) for s, d in self._inputs]
        return ins + [np.zeros(v.shape, v.dtype) for v in self.node.outputs]

    def reference(self, args) -> list[np.ndarray]:
        """The default config's outputs on `args` (computed here, in the tuner process)."""
        args = [a.copy() if k in self.outputs else a for k, a in enumerate(args)]
        self.load(self.build(None))(*args)
        return [args[k] for k in self.outputs]

    def features(self, config: Config) -> np.ndarray:
        key = self.space.index(config)
        if key not in self._features:
            func, _ = self.build(config)
            self._features[key] = featurize(func, self.space.knob_vector(config))
        return self._features[key]

    def __getstate__(self):
        return {**self.__dict__, "_features": {}}
