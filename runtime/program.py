"""Linking: where every tensor of a compiled model lives, and what each kernel call is passed.

A Program is the runnable, serializable description of a model, apart from its code:

    slots   the base pointers the runner reads, in this order:
            0                  the arena (all intermediates, at the memory plan's offsets)
            1 ..               one per graph input
            then               one per output buffer (a graph output some kernel writes)
            then               one per constant (weights, packed weights)
    calls   the kernels in order; argument j of a call is (slot, byte offset), the offset
            nonzero only in the arena.

Kernels are named by a structural hash of their loop IR with names blanked (`k<hash>`), so
calls of kernels that differ only in names (the layers of a transformer) share one compiled
function, and a cache key never depends on a name.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ..codegen.llvm import symbol
from ..codegen.llvm_library import Call
from ..compiler import tir
from ..compiler.aligned import ALIGNMENT, aligned_copy
from ..compiler.errors import GraphError
from ..compiler.graph import Value
from .memory_plan import MemoryPlan, Step, plan_memory

ARENA = 0


class LoweredKernel(Protocol):
    """What compiler.lower.lower_graph returns per kernel (the fields linking reads)."""

    name: str
    func: tir.PrimFunc
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    workload: str
    template: str
    config: dict
    workspace: tuple[Value, ...]   # scratch, bound after the outputs; arena, this call only


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def type_str(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class KernelCall:
    """One kernel call: `symbol` is the native function, `args` its (slot, offset) pairs."""

    name: str
    symbol: str
    args: tuple[tuple[int, int], ...]
    workload: str = ""
    template: str = ""
    config: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Program:
    """A model's calls and tensor placement (see the module docstring). `output_sources[j]`
    says where graph output j comes from: ("buffer", b), or a copy of ("input", i) or
    ("constant", c) for outputs no kernel writes."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    output_sources: tuple[tuple[str, int], ...]
    buffers: tuple[TensorSpec, ...]
    constants: tuple[np.ndarray, ...]
    calls: tuple[KernelCall, ...]
    arena_bytes: int

    @property
    def n_slots(self) -> int:
        return 1 + len(self.inputs) + len(self.buffers) + len(self.constants)

    def input_slot(self, i: int) -> int:
        return 1 + i

    def buffer_slot(self, b: int) -> int:
        return 1 + len(self.inputs) + b

    def constant_slot(self, c: int) -> int:
        return 1 + len(self.inputs) + len(self.buffers) + c

    def runner_calls(self) -> list[Call]:
        return [Call(c.symbol, c.args) for c in self.calls]


def structural_name(func: tir.PrimFunc) -> str:
    """`k` + a hash of the loop IR with every name (kernel, buffers, variables) replaced by
    a positional one, so kernels that differ only in names share one compiled function."""
    names: dict = {}

    def rename(x, prefix: str):
        if x not in names:
            names[x] = dataclasses.replace(x, name=f"{prefix}{len(names)}")
        return names[x]

    def canonical(n):
        if isinstance(n, tir.Var):
            return rename(n, "v")
        if isinstance(n, (tir.Load, tir.Store, tir.Allocate)):
            return dataclasses.replace(n, buffer=rename(n.buffer, "b"))
        return None

    params = tuple(rename(p, "b" if isinstance(p, tir.Buffer) else "v") for p in func.params)
    text = str(tir.PrimFunc("kernel", params, tir.rewrite(func.body, canonical), func.attrs))
    text += repr([(b.dtype, b.shape, b.strides, b.offset, b.scope) for b in names.values()
                  if isinstance(b, tir.Buffer)])   # what the printer may leave out
    return "k" + hashlib.sha256(text.encode()).hexdigest()[:16]


def link(inputs: Sequence[Value], outputs: Sequence[Value], kernels: Sequence[LoweredKernel]
         ) -> tuple[Program, MemoryPlan, list[tir.PrimFunc]]:
    """The Program and memory plan of running `kernels` in order from the graph `inputs` to
    its `outputs`, and the distinct PrimFuncs to compile (renamed structurally)."""
    for k in kernels:
        _check_params(k)
    ids = _ids([*inputs, *outputs, *(v for k in kernels for v in _params(k))])
    consts = list(dict.fromkeys(v for v in (*(v for k in kernels for v in k.inputs), *outputs)
                                if v.is_const))
    written = {v for k in kernels for v in k.outputs}
    out_buffers = [v for v in dict.fromkeys(outputs)
                   if v in written or _unwritten_empty(v, inputs)]
    external = set(inputs) | set(outputs) | set(consts)
    plan = plan_memory([Step(k.name, tuple(ids[v] for v in k.inputs),
                             tuple(ids[v] for v in (*k.outputs, *k.workspace)))
                        for k in kernels],
                       {ids[v]: v.nbytes for v in ids}, {ids[v] for v in external},
                       alignment=ALIGNMENT, inplace=False)

    slot = {v: (1 + i, 0) for i, v in enumerate([*inputs, *out_buffers, *consts])}
    slot.update({v: (ARENA, o) for v, o in ((v, plan.offsets.get(ids[v])) for v in ids)
                 if o is not None and v not in slot})

    funcs: dict[str, tir.PrimFunc] = {}
    calls = []
    for k in kernels:
        name = structural_name(k.func)
        funcs.setdefault(name, dataclasses.replace(k.func, name=name))
        calls.append(KernelCall(k.name, symbol(funcs[name]),
                                tuple(slot[v] for v in _params(k)),
                                k.workload, k.template, dict(k.config)))
    program = Program(tuple(_spec(v) for v in inputs), tuple(_spec(v) for v in outputs),
                      tuple(_source(v, inputs, out_buffers, consts) for v in outputs),
                      tuple(_spec(v) for v in out_buffers),
                      tuple(aligned_copy(np.asarray(v.data, dtype=v.dtype)) for v in consts),
                      tuple(calls), plan.arena_bytes)
    return program, plan, list(funcs.values())


def _ids(values: list[Value]) -> dict[Value, str]:
    """A unique string per distinct Value: its name, suffixed where two share one."""
    ids: dict[Value, str] = {}
    taken: set[str] = set()
    for v in values:
        if v not in ids:
            name, k = v.name, 1
            while name in taken:
                name, k = f"{v.name}.{k}", k + 1
            ids[v] = name
            taken.add(name)
    return ids


def _unwritten_empty(v: Value, inputs) -> bool:
    """An empty graph output that no kernel writes (there is nothing to write): a fresh
    zero-byte output buffer, like any other."""
    return v.size == 0 and not v.is_const and v not in inputs


def _spec(v: Value) -> TensorSpec:
    return TensorSpec(v.name, tuple(v.shape), v.dtype)


def _source(v: Value, inputs, out_buffers, consts) -> tuple[str, int]:
    for kind, pool in (("buffer", out_buffers), ("input", inputs), ("constant", consts)):
        if v in pool:
            return kind, list(pool).index(v)
    raise GraphError(f"graph output {v!r} is neither an input, a constant, nor written by "
                     "any kernel")


def _params(k: LoweredKernel) -> tuple[Value, ...]:
    """The values a kernel's params are bound to, in order."""
    return (*k.inputs, *k.outputs, *k.workspace)


def _check_params(k: Any) -> None:
    values = _params(k)
    params = k.func.params
    if len(params) != len(values):
        raise GraphError(f"kernel {k.name}: {len(params)} params for {len(values)} tensors")
    for p, v in zip(params, values):
        if not isinstance(p, tir.Buffer):
            raise GraphError(f"kernel {k.name}: param {p.name} is a scalar; a graph kernel "
                             "takes buffers only")
        size = int(np.prod(p.shape, dtype=np.int64))
        if p.dtype != v.dtype or size != v.size:
            raise GraphError(f"kernel {k.name}: param {p.name} is {p.dtype}[{size} elements] "
                             f"but is passed {v!r}")
