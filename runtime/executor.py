"""The executor: run a Program's kernels with one native call per run.

    executor = Executor(program, library)
    buffers = executor.run([x])           # validated, C-contiguous inputs in program order

Per run, Python only fills an array of base pointers (the slots: arena, inputs, fresh output
buffers, constants) and calls the library's runner `tf_run(slots)` through ctypes, which
releases the GIL; the runner calls every kernel with no Python in between. Each thread gets
its own arena (64-byte aligned, allocated on its first run and reused) and slot array, so
concurrent runs never share intermediate memory. Code is loaded on the first run, after the
target is checked runnable on this host.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..codegen import num_threads
from ..codegen.llvm_library import RUNNER, Library
from ..compiler.aligned import aligned_empty, aligned_offsets

if TYPE_CHECKING:
    from .program import Program


class Executor:
    """Runs `program` on `library` (which holds its kernels and runner)."""

    def __init__(self, program: "Program", library: Library):
        self.program, self.library = program, library
        self._local = threading.local()
        self._lock = threading.Lock()
        self._runner = None
        self._threads = None
        # all output buffers of a run share one fresh allocation, each 64-byte aligned in it
        self._out_types = [(b.shape, np.dtype(b.dtype)) for b in program.buffers]
        self._out_offsets, self._out_bytes = aligned_offsets(b.nbytes for b in program.buffers)

    def _bind(self):
        with self._lock:
            if self._runner is None:
                self._threads = self.library.num_threads   # checks the target is runnable
                self._runner = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
                    self.library.address(RUNNER))
        return self._runner

    def _thread_slots(self) -> ctypes.Array:
        slots = getattr(self._local, "slots", None)
        if slots is None:
            p = self.program
            self._local.arena = aligned_empty((p.arena_bytes,), np.uint8)
            slots = (ctypes.c_void_p * p.n_slots)()
            slots[0] = self._local.arena.ctypes.data
            for c, a in enumerate(p.constants):
                slots[p.constant_slot(c)] = a.ctypes.data
            self._local.slots = slots
        return slots

    def prepare(self, inputs: Sequence[np.ndarray]) -> tuple[ctypes.Array, list[np.ndarray]]:
        """This thread's slots filled for one run over `inputs`, and the fresh output buffers
        they point to."""
        slots = self._thread_slots()
        for i, a in enumerate(inputs):
            slots[self.program.input_slot(i)] = a.ctypes.data
        raw = aligned_empty((self._out_bytes,), np.uint8)
        base = raw.ctypes.data
        first = self.program.buffer_slot(0)
        buffers = []
        for b, ((shape, dtype), off) in enumerate(zip(self._out_types, self._out_offsets)):
            buffers.append(np.ndarray(shape, dtype, raw, off))
            slots[first + b] = base + off
        return slots, buffers

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run every kernel once; returns the output buffers (Program.buffers order)."""
        runner = self._runner or self._bind()
        slots, buffers = self.prepare(inputs)
        self._threads.value = num_threads()
        runner(slots)
        return buffers

    def kernel_functions(self) -> list:
        """One ctypes function per call (for profiling kernels one at a time)."""
        self._runner or self._bind()
        return [ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(c.args))(
            self.library.address(c.symbol)) for c in self.program.calls]

    def call_args(self, slots: ctypes.Array) -> list[list[int]]:
        """The pointer arguments of every call for these filled slots."""
        return [[slots[s] + off for s, off in c.args] for c in self.program.calls]
