"""Many kernels in one native library: one LLVM module, one object file, one JIT engine.

    lib = build_library([f1, f2], target, runner=[Call("tf_kernel.f1", ((0, 0), (1, 64)))])
    lib.object_code                       # bytes: save them and load without recompiling
    lib = Library(target, code, ir_text)
    lib.address(RUNNER)                   # void tf_run(ptr slots): every call, in order

Each PrimFunc is lowered and optimized alone by `llvm_build.Kernel` (so identical kernels
share its cache), then the optimized modules are linked into one, with the thread-count
global made weak so the copies merge into one knob. The optional runner calls the kernels
in order without Python in between: argument j of a call is `slots[slot] + offset` bytes,
where `slots` is an array of base pointers the caller fills (arena, inputs, outputs, ...).
The object code is what runs, both after a compile and after a load, so the two cannot
differ; it is JIT-loaded (MCJIT) only after the target is checked runnable on this host.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Sequence

import llvmlite.binding as llvm
import llvmlite.ir as ir

from ..compiler import tir
from .llvm import NUM_THREADS_GLOBAL, PTR, CodegenError
from .llvm_build import build, load_runtime_libraries
from .target import Target

RUNNER = "tf_run"


@dataclass(frozen=True)
class Call:
    """One kernel call of the runner: the kernel's symbol and its arguments, each a
    (slot index, byte offset) pair."""

    symbol: str
    args: tuple[tuple[int, int], ...]


def _runner_ir(calls: Sequence[Call], target: Target) -> str:
    """`void tf_run(ptr %slots)`: for each call, load its bases and call the kernel."""
    module = ir.Module(name=RUNNER)
    module.triple = target.triple
    kernels = {}
    for c in calls:
        if c.symbol not in kernels:
            kernels[c.symbol] = ir.Function(module, ir.FunctionType(ir.VoidType(),
                                                                    [PTR] * len(c.args)),
                                            name=c.symbol)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=RUNNER)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    i8, i64 = ir.IntType(8), ir.IntType(64)
    bases = {}

    def base(slot: int):
        if slot not in bases:
            addr = b.gep(fn.args[0], [ir.Constant(i64, slot)], inbounds=True, source_etype=PTR)
            bases[slot] = b.load(addr, typ=PTR)
        return bases[slot]

    for c in calls:
        args = [b.gep(base(s), [ir.Constant(i64, off)], inbounds=True, source_etype=i8)
                for s, off in c.args]
        b.call(kernels[c.symbol], args)
    b.ret_void()
    return str(module)


def build_library(funcs: Sequence[tir.PrimFunc], target: Target, runner: Sequence[Call] = (),
                  fastmath: str = "contract") -> "Library":
    """Compile `funcs` (distinct names) and the runner of `runner` into one Library."""
    names = [f.name for f in funcs]
    if len(set(names)) != len(names):
        raise CodegenError(f"build_library: duplicate kernel names in {names}")
    linked = llvm.parse_assembly(_runner_ir(runner, target))
    for f in funcs:
        module = llvm.parse_assembly(build(f, target, fastmath).source("llvm"))
        module.get_global_variable(NUM_THREADS_GLOBAL).linkage = llvm.Linkage.weak_any
        linked.link_in(module)
    linked.verify()
    text = str(linked)
    code = target.machine().emit_object(linked)
    return Library(target, code, text)


class Library:
    """Object code for one target; JIT-loaded on the first `address` (thread-safe)."""

    def __init__(self, target: Target, object_code: bytes, llvm_ir: str):
        self.target, self.object_code, self.llvm_ir = target, object_code, llvm_ir
        self._engine = None
        self._lock = threading.Lock()

    def source(self, kind: str = "llvm") -> str:
        """"llvm" (the optimized, linked LLVM IR) or "asm" (target assembly)."""
        if kind == "llvm":
            return self.llvm_ir
        if kind == "asm":
            return self.target.machine().emit_assembly(llvm.parse_assembly(self.llvm_ir))
        raise ValueError(f"unknown source kind {kind!r}; choose from ['asm', 'llvm']")

    def _jit(self):
        with self._lock:
            if self._engine is None:
                self.target.check_runnable()
                load_runtime_libraries(self.llvm_ir)
                engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                    self.target.owned_machine())
                engine.add_object_file(llvm.ObjectFileRef.from_data(self.object_code))
                engine.finalize_object()
                self._engine = engine
        return self._engine

    def address(self, symbol: str) -> int:
        """Native address of a function; raises TargetError before loading code this host
        cannot run."""
        addr = self._jit().get_function_address(symbol)
        if not addr:
            raise CodegenError(f"no function {symbol!r} in this library")
        return addr

    @property
    def num_threads(self) -> ctypes.c_int32:
        """The thread count every parallel loop of the library uses (below 2: serial)."""
        addr = self._jit().get_global_value_address(NUM_THREADS_GLOBAL)
        return ctypes.c_int32.from_address(addr) if addr else ctypes.c_int32()  # no kernels
