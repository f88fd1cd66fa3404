"""CudaModule: a compiled model on a CUDA device (what `compile(model, target="cuda")` returns).

    mod = tensorforge.compile("resnet18.onnx", target="cuda")
    y, = mod.run(x)          # NumPy in -> NumPy out (copied in and back)
    y, = mod.run(x_gpu)      # CuPy in -> CuPy out (kept on the device)
    mod.use_graph()          # later runs replay one CUDA graph of all the launches
    print(mod.source("cuda"))

Linking is the CPU path's (runtime.program.link: the same slots, calls and static memory
plan); only placement differs. One device allocation holds, each region 256-byte aligned:

    [ arena (the memory plan's intermediates) | inputs | output buffers | constants ]

Constants are uploaded once, when the module is made. Every call's pointer arguments are
fixed then too (slot base + offset), so a run is: copy the inputs in, queue every launch on
the device's one stream with no host synchronisation in between (or replay the captured
graph), copy the outputs out, synchronize once. One device memory means runs take turns
(a lock), unlike the CPU Module whose threads each get an arena.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..codegen.cuda import cuda_source, kernel_name, launch_dims
from ..codegen.llvm import symbol
from ..codegen.target import Target, TargetError
from ..compiler import tir
from ..compiler.aligned import aligned_offsets
from .cuda_device import ALIGNMENT, Device
from .memory_plan import MemoryPlan
from .module import (ProgramSignature, bind_inputs, check_numpy_input, check_type,
                     gather_outputs)
from .program import LoweredKernel, Program, TensorSpec, link


@dataclass(frozen=True)
class CudaFunction:
    """One distinct kernel: its CUDA source, C name and launch shape."""

    symbol: str   # what KernelCall.symbol names it by
    name: str
    source: str
    grid: tuple
    block: tuple

    @classmethod
    def of(cls, func: tir.PrimFunc, symbol: str) -> "CudaFunction":
        grid, block = launch_dims(func)
        return cls(symbol, kernel_name(func), cuda_source(func), grid, block)


class CudaModule(ProgramSignature):
    def __init__(self, program: Program, functions: Sequence[CudaFunction],
                 memory_plan: MemoryPlan, target: Target, device: Device):
        self.program, self.memory_plan, self.device = program, memory_plan, device
        self.target = device_target(target, device)
        self.functions = {f.symbol: f for f in functions}
        kernels = {f.symbol: device.compile(f.source, f.name) for f in functions}
        p = program
        offsets, nbytes = aligned_offsets([p.arena_bytes, *(s.nbytes for s in p.inputs),
                                           *(s.nbytes for s in p.buffers),
                                           *(c.nbytes for c in p.constants)], ALIGNMENT)
        base = device.allocate(nbytes)
        self._slots = [base + o for o in offsets]   # device address of every slot
        self._launches = [(kernels[c.symbol], self.functions[c.symbol].grid,
                           self.functions[c.symbol].block,
                           device.kernel_args([self._slots[s] + off for s, off in c.args]))
                          for c in p.calls]
        for c, a in enumerate(p.constants):
            device.upload(self._slots[p.constant_slot(c)], a)
        device.synchronize()
        self._graph, self._replay = False, None
        self._lock = threading.Lock()

    @classmethod
    def link(cls, inputs: Sequence, outputs: Sequence, kernels: Sequence[LoweredKernel],
             target: Target, device: Device) -> "CudaModule":
        """The module running lowered GPU `kernels` in order on `device` (see Module.link)."""
        program, plan, funcs = link(inputs, outputs, kernels)
        functions = [CudaFunction.of(f, symbol(f)) for f in funcs]
        return cls(program, functions, plan, target, device)

    def use_graph(self, on: bool = True) -> None:
        """Capture all launches as one CUDA graph on the next run and replay it afterwards
        (one launch instead of one per kernel); `on=False` goes back to plain launches."""
        with self._lock:
            self._replay = None
            self._graph = on

    def run(self, *args, **named) -> list:
        """Outputs in model order: CuPy arrays if any input is one, else NumPy arrays."""
        inputs = bind_inputs(self.inputs, args, named, self._check)
        on_device = any(self.device.is_array(a) for a in inputs)
        p, dev = self.program, self.device
        with self._lock:
            for i, a in enumerate(inputs):
                (dev.copy_in if dev.is_array(a) else dev.upload)(self._slots[p.input_slot(i)], a)
            self._launch_all()
            slots = [self._slots[p.buffer_slot(b)] for b in range(len(p.buffers))]
            constants = p.constants
            if on_device:
                buffers = [dev.copy_out(s, b.shape, b.dtype) for s, b in zip(slots, p.buffers)]
                constants = {k: self._device_constant(k)      # only the constant outputs
                             for kind, k in p.output_sources if kind == "constant"}
            else:
                buffers = [np.empty(b.shape, b.dtype) for b in p.buffers]
                for s, b in zip(slots, buffers):
                    dev.download(s, b)
            dev.synchronize()
        return gather_outputs(p, inputs, buffers, constants)

    __call__ = run

    def source(self, kind: str = "cuda") -> str:
        """The CUDA C of every distinct kernel."""
        if kind != "cuda":
            raise ValueError(f"a CUDA module has source kind 'cuda', not {kind!r}")
        return "\n".join(f.source for f in self.functions.values())

    def __repr__(self) -> str:
        return (f"<CudaModule {self.signature()}, {len(self.kernels)} kernels, "
                f"target '{self.target}' on {self.device.name}>")

    # ------------------------------------------------------------ internals

    def _launch_all(self) -> None:
        if not self._graph:
            self._queue_launches()
            return
        if self._replay is None:
            self._replay = self.device.capture(self._queue_launches)
        self._replay()

    def _queue_launches(self) -> None:
        for kernel, grid, block, args in self._launches:
            self.device.launch(kernel, grid, block, args)

    def _check(self, spec: TensorSpec, a):
        if self.device.is_array(a):
            check_type(spec, a)
            return a
        return check_numpy_input(spec, a)

    def _device_constant(self, c: int):
        a = self.program.constants[c]
        return self.device.copy_out(self._slots[self.program.constant_slot(c)], a.shape,
                                    str(a.dtype))


def device_target(target: Target, device: Device) -> Target:
    """`target` with the device's architecture filled in; refused when the code needs a
    newer GPU than the device (sm_90 code cannot run on an sm_80 device)."""
    if not target.arch:
        return target.with_arch(device.arch)
    if _arch_number(target.arch) > _arch_number(device.arch):
        raise TargetError(f"target '{target}' needs an {target.arch} GPU or newer; "
                          f"{device.name} is {device.arch}")
    return target


def _arch_number(arch: str) -> int:
    return int(arch[3:].rstrip("a"))
