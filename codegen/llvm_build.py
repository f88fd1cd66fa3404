"""Build a PrimFunc into a callable native Kernel: lower, emit LLVM IR, optimize, JIT.

    kernel = build(func, "llvm -mcpu=avx512")
    kernel(a, b, out)                     # numpy arrays, checked against func's buffers
    kernel.source("asm")                  # works for any target on any host

The lowering before LLVM is a flat list of passes (TENSORFORGE_DUMP=1 prints the IR after
each). Optimized code is cached by a hash of the IR text plus the target, so identical
kernels compile once per process; the JIT happens on first call (or `.address`), after the
target is checked runnable on this host.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import sys
from collections import OrderedDict

import llvmlite.binding as llvm
import numpy as np

from ..compiler import tir
from ..compiler.tir_simplify import simplify
from ..compiler.tir_unroll import unroll
from ..compiler.tir_vectorize import vectorize
from .llvm import NUM_THREADS_GLOBAL, PARALLEL_FOR, CodegenError, emit_module, symbol
from .llvm_threadpool import load_threadpool
from .target import Target

PASSES = [
    ("simplify", lambda f, t: simplify(f)),
    ("vectorize", lambda f, t: vectorize(f, t.vector_bits)),
    ("unroll", lambda f, t: unroll(f)),
]
CTYPES = {"float16": ctypes.c_uint16, "float32": ctypes.c_float, "float64": ctypes.c_double,
          "bool": ctypes.c_bool, **{f"{s}int{n}": getattr(ctypes, f"c_{s}int{n}")
                                    for s in ("", "u") for n in (8, 16, 32, 64)}}
# Compiled kernels by IR hash, least recently used first. Bounded, so a process that
# compiles many distinct models (a fuzzer, a tuner) does not keep every JIT engine alive;
# a Kernel holds its own reference, so eviction never frees code still in use.
CACHE_SIZE = 512
_CACHE: OrderedDict = OrderedDict()


def lower(func: tir.PrimFunc, target: Target) -> tir.PrimFunc:
    """Target-specific loop IR: vector loops turned to vector code, unrolled loops expanded."""
    for name, run in PASSES:
        func = run(func, target)
        if os.environ.get("TENSORFORGE_DUMP"):
            print(f"# after {name}\n{func}", file=sys.stderr)
    return func


def num_threads() -> int:
    """TENSORFORGE_NUM_THREADS, else the cores this process may run on."""
    env = os.environ.get("TENSORFORGE_NUM_THREADS")
    return int(env) if env else len(os.sched_getaffinity(0))


# A float16 type in LLVM IR: conversions LLVM may leave to compiler-rt helpers.
HALF_IR = re.compile(r"(?<![%@.\w])half\b")


def _load(library: str, users: str):
    try:
        llvm.load_library_permanently(library)
    except RuntimeError as err:
        raise CodegenError(f"{users} need {library}, which could not be loaded: {err}") from None


def load_runtime_libraries(ir_text: str):
    """What JIT code calls into: the thread pool for parallel loops; libgcc_s for float16
    conversions LLVM calls helpers for (__extendhfsf2/__truncsfhf2 without F16C,
    __truncdfhf2 for double -> half on every x86 CPU)."""
    if f"@{PARALLEL_FOR}(" in ir_text:
        load_threadpool()
    if HALF_IR.search(ir_text):
        _load("libgcc_s.so.1", "float16 conversions (compiler-rt helpers in libgcc)")


class _Compiled:
    """One optimized LLVM module; assembly and JIT code are produced on demand."""

    def __init__(self, ir_text: str, target: Target):
        self.target = target
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = pto.slp_vectorization = True
        pb = llvm.create_pass_builder(target.machine(), pto)
        pb.getModulePassManager().run(mod, pb)
        self.optimized = str(mod)
        self.engine = None
        self._asm = None

    @property
    def asm(self) -> str:
        if self._asm is None:
            self._asm = self.target.machine().emit_assembly(llvm.parse_assembly(self.optimized))
        return self._asm

    def jit(self):
        if self.engine is None:
            self.target.check_runnable()
            load_runtime_libraries(self.optimized)
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(self.optimized),
                                                self.target.owned_machine())
            engine.finalize_object()
            self.engine = engine
        return self.engine


class Kernel:
    """A compiled PrimFunc. Call it with one numpy array per Buffer param (exact dtype and
    shape, C-contiguous; arrays written by the kernel may not overlap any other argument)
    and a Python number per scalar param. The GIL is released during the call."""

    def __init__(self, func: tir.PrimFunc, target: Target, fastmath: str = "contract"):
        self.func, self.target = func, target
        self.lowered = lower(func, target)
        ir_text = str(emit_module(self.lowered, target, fastmath))
        key = hashlib.sha256(f"{target}\n{fastmath}\n{ir_text}".encode()).hexdigest()
        compiled = _CACHE.pop(key, None) or _Compiled(ir_text, target)
        _CACHE[key] = compiled
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        self._compiled, self.key, self._cfunc = compiled, key, None
        written = {n.buffer for n in tir.walk(func.body) if isinstance(n, tir.Store)}
        self._written = [k for k, p in enumerate(func.params) if p in written]

    def source(self, kind: str = "llvm") -> str:
        """"llvm" (optimized LLVM IR), "asm" (target assembly) or "tir" (lowered loop IR)."""
        sources = {"llvm": lambda: self._compiled.optimized, "asm": lambda: self._compiled.asm,
                   "tir": lambda: str(self.lowered)}
        if kind not in sources:
            raise ValueError(f"unknown source kind {kind!r}; choose from {sorted(sources)}")
        return sources[kind]()

    @property
    def address(self) -> int:
        """Native address of `void name(args...)`, for a runtime calling without Python."""
        return self._compiled.jit().get_function_address(symbol(self.func))

    @property
    def num_threads_address(self) -> int:
        """Address of the int32 thread count parallel loops use (below 2: serial)."""
        return self._compiled.jit().get_global_value_address(NUM_THREADS_GLOBAL)

    def _signature(self):
        return [ctypes.c_void_p if isinstance(p, tir.Buffer) else CTYPES[p.dtype]
                for p in self.func.params]

    def _check(self, args) -> list:
        params = self.func.params
        if len(args) != len(params):
            raise TypeError(f"{self.func.name} takes {len(params)} arguments "
                            f"({', '.join(p.name for p in params)}), got {len(args)}")
        out = []
        for p, a in zip(params, args):
            if not isinstance(p, tir.Buffer):
                out.append(a)
                continue
            want = f"{p.dtype}[{', '.join(map(str, p.shape))}]"
            if not isinstance(a, np.ndarray) or a.dtype != np.dtype(p.dtype) \
                    or a.shape != p.shape or not a.flags.c_contiguous:
                got = (f"{a.dtype}{list(a.shape)}{'' if a.flags.c_contiguous else ' non-contiguous'}"
                       if isinstance(a, np.ndarray) else type(a).__name__)
                raise TypeError(f"{self.func.name}: argument {p.name!r} must be a C-contiguous "
                                f"numpy {want}, got {got}")
            out.append(a.ctypes.data)
        for k in self._written:
            for j, a in enumerate(args):
                if j != k and isinstance(a, np.ndarray) and np.may_share_memory(args[k], a):
                    raise ValueError(f"{self.func.name}: output {params[k].name!r} overlaps "
                                     f"argument {params[j].name!r}")
        return out

    def __call__(self, *args):
        values = self._check(args)
        if self._cfunc is None:
            self._cfunc = ctypes.CFUNCTYPE(None, *self._signature())(self.address)
            self._threads = ctypes.c_int32.from_address(self.num_threads_address)
        self._threads.value = num_threads()
        self._cfunc(*values)


def build(func: tir.PrimFunc, target="llvm", fastmath: str = "contract") -> Kernel:
    """Compile `func` for `target` (a Target or a string such as "llvm -mcpu=avx512")."""
    return Kernel(func, target if isinstance(target, Target) else Target.parse(target), fastmath)
