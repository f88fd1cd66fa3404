"""Module: a compiled model, the object a user holds.

    mod = tensorforge.compile("resnet18.onnx")
    y, = mod.run(x)                  # or mod.run(input=x), or mod(x): outputs in model order
    mod.memory_plan                  # naive_bytes, lower_bound_bytes, arena_bytes, ...
    print(mod.profile(x))            # per-kernel times, slowest first
    mod.source("asm"); mod.save("resnet18.tfm")

Inputs are checked against the model (count, names, shapes, dtypes) before any kernel runs:
a mismatch is an InputError naming it, never a crash or a silently wrong answer. Nothing is
cast; non-contiguous arrays are copied. `run` is safe to call from several threads at once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..codegen.llvm_library import Library, build_library
from ..codegen.target import Target
from ..compiler.errors import InputError
from .executor import Executor
from .memory_plan import MemoryPlan
from .profile import Profile, profile
from .program import KernelCall, LoweredKernel, Program, TensorSpec, link


class ProgramSignature:
    """What a compiled model shows of its Program: inputs, outputs, kernel calls (shared by
    the CPU Module and runtime.cuda_module.CudaModule)."""

    program: Program

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.program.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.program.outputs

    @property
    def kernels(self) -> tuple[KernelCall, ...]:
        return self.program.calls

    def signature(self) -> str:
        """'(x: float32[1, 3], ...) -> (y: float32[1, 10])'."""
        sig = lambda specs: ", ".join(f"{s.name}: {s.type_str()}" for s in specs)  # noqa: E731
        return f"({sig(self.inputs)}) -> ({sig(self.outputs)})"


class Module(ProgramSignature):
    def __init__(self, program: Program, library: Library, memory_plan: MemoryPlan):
        self.program, self.library, self.memory_plan = program, library, memory_plan
        self._executor = Executor(program, library)

    @classmethod
    def link(cls, inputs: Sequence, outputs: Sequence, kernels: Sequence[LoweredKernel],
             target: Target) -> "Module":
        """The Module running lowered `kernels` in order, from graph `inputs` to `outputs`:
        tensors placed (runtime.program.link), all kernels built into one library."""
        program, plan, funcs = link(inputs, outputs, kernels)
        return cls(program, build_library(funcs, target, program.runner_calls()), plan)

    @property
    def target(self):
        return self.library.target

    def run(self, *args, **named) -> list[np.ndarray]:
        """Outputs (fresh arrays, model order) for inputs given by position and/or name."""
        inputs = self._bind(args, named)
        buffers = self._executor.run(inputs)
        return self._outputs(inputs, buffers)

    __call__ = run

    def profile(self, *args, repeat: int = 10, **named) -> Profile:
        """Per-kernel median times over `repeat` runs, slowest first (see runtime.profile)."""
        return profile(self._executor, self._bind(args, named), repeat)

    def source(self, kind: str = "llvm") -> str:
        """All kernels and the runner: "llvm" (optimized LLVM IR) or "asm"."""
        return self.library.source(kind)

    def save(self, path) -> None:
        """Write the module (object code, plan, constants) to `path`; see runtime.serialize."""
        from .serialize import save
        save(self, path)

    def __repr__(self) -> str:
        return (f"<Module {self.signature()}, {len(self.kernels)} kernels, "
                f"target '{self.target}'>")

    # ------------------------------------------------------------ inputs and outputs

    def _bind(self, args: Sequence, named: dict) -> list[np.ndarray]:
        return bind_inputs(self.inputs, args, named, check_numpy_input)

    def _outputs(self, inputs: list[np.ndarray], buffers: list[np.ndarray]) -> list[np.ndarray]:
        return gather_outputs(self.program, inputs, buffers, self.program.constants)


def bind_inputs(specs: Sequence[TensorSpec], args: Sequence, named: dict, check) -> list:
    """The inputs given by position and/or name, in model order, each passed through
    `check(spec, a)`; InputError naming what is wrong (shared by the CPU and CUDA modules)."""
    expected = ", ".join(f"{s.name}: {s.type_str()}" for s in specs)
    if len(args) > len(specs):
        raise InputError(f"model takes {len(specs)} input(s) ({expected}), got "
                         f"{len(args)} positional")
    given = {s.name: a for s, a in zip(specs, args)}
    for name, a in named.items():
        if name not in {s.name for s in specs}:
            raise InputError(f"unknown input {name!r}; the model's inputs are {expected}")
        if name in given:
            raise InputError(f"input {name!r} given both by position and by name")
        given[name] = a
    missing = [s.name for s in specs if s.name not in given]
    if missing:
        raise InputError(f"missing input(s) {', '.join(map(repr, missing))}; the model's "
                         f"inputs are {expected}")
    return [check(s, given[s.name]) for s in specs]


def gather_outputs(program: Program, inputs: list, buffers: list, constants: Sequence) -> list:
    """The graph outputs in model order from the run's output buffers, inputs and constants
    (NumPy or device arrays alike); an array appearing twice is copied, never aliased."""
    pools = {"buffer": buffers, "input": inputs, "constant": constants}
    out, seen = [], set()
    for kind, k in program.output_sources:
        a = pools[kind][k]
        out.append(a if kind == "buffer" and (kind, k) not in seen else a.copy())
        seen.add((kind, k))
    return out


def check_numpy_input(spec: TensorSpec, a) -> np.ndarray:
    """`a` as a C-contiguous NumPy array of `spec`'s dtype and shape, else InputError."""
    if not isinstance(a, (np.ndarray, np.generic)):
        raise InputError(f"input {spec.name!r} must be a numpy array {spec.type_str()}, "
                         f"got {type(a).__name__}")
    a = np.asarray(a)
    check_type(spec, a)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def check_type(spec: TensorSpec, a) -> None:
    """InputError unless array `a` (any array type with .dtype and .shape) fits `spec`."""
    if a.dtype != np.dtype(spec.dtype) or tuple(a.shape) != spec.shape:
        raise InputError(f"input {spec.name!r} expects {spec.type_str()}, got "
                         f"{a.dtype}[{', '.join(map(str, a.shape))}]")
