"""A CUDA device over host memory: runtime.cuda_device.Device's interface with every launch
run by the emulator, so CudaModule (and compile(target="cuda", device=...)) runs end to end
without a GPU.

Device memory is 256-byte aligned NumPy allocations whose host addresses are the "device"
addresses. A launch turns each pointer argument into a view of the allocation holding it, of
the kernel parameter's element type. `capture` records launches without running them and
returns their replay, as a CUDA graph does: a module that queued host work during capture,
or read results before replaying, gives wrong answers here too.
"""

from __future__ import annotations

import bisect
import time

import numpy as np

from emulator import build, emulate_launch, pointer_params

ALIGNMENT = 256


class EmulatedDevice:
    name = "CUDA emulator (host)"

    def __init__(self, arch: str = "sm_90"):
        self.arch = arch
        self._starts: list[int] = []     # sorted allocation addresses
        self._memory: dict[int, np.ndarray] = {}
        self._recording: list | None = None
        # what tests count: kernels actually run, uploads, host waits, graph captures
        self.launches = self.uploads = self.synchronizations = self.captures = 0

    def compile(self, source: str, name: str):
        build(source, name)   # compile errors surface now, as NVRTC's would
        return source, name, pointer_params(source, name)

    def allocate(self, nbytes: int) -> int:
        raw = np.zeros(nbytes + ALIGNMENT, np.uint8)
        shift = -raw.ctypes.data % ALIGNMENT
        memory = raw[shift:shift + nbytes]
        address = memory.ctypes.data
        bisect.insort(self._starts, address)
        self._memory[address] = memory
        return address

    def _bytes(self, address: int, nbytes: int) -> np.ndarray:
        """The bytes [address, address + nbytes) of one allocation."""
        k = bisect.bisect_right(self._starts, address) - 1
        memory = self._memory[self._starts[k]] if k >= 0 else None
        offset = address - self._starts[k] if k >= 0 else -1
        if memory is None or not 0 <= offset <= memory.size - nbytes:
            raise ValueError(f"device address {address:#x} + {nbytes} bytes is outside every "
                             "allocation")
        return memory[offset:offset + nbytes]

    def upload(self, dst: int, host: np.ndarray) -> None:
        self.uploads += 1
        self._bytes(dst, host.nbytes)[:] = np.ascontiguousarray(host).reshape(-1).view(np.uint8)

    def download(self, src: int, host: np.ndarray) -> None:
        host.reshape(-1).view(np.uint8)[:] = self._bytes(src, host.nbytes)

    def kernel_args(self, addresses) -> list:
        return list(addresses)

    def launch(self, kernel, grid, block, args) -> None:
        if self._recording is not None:
            self._recording.append((kernel, grid, block, list(args)))
            return
        source, name, pointees = kernel
        arrays = []
        for address, dtype in zip(args, pointees):
            k = bisect.bisect_right(self._starts, address) - 1
            end = self._starts[k] + self._memory[self._starts[k]].size
            itemsize = np.dtype(dtype).itemsize
            arrays.append(self._bytes(address, (end - address) // itemsize * itemsize)
                          .view(dtype))
        emulate_launch(source, name, grid, block, arrays)
        self.launches += 1

    def synchronize(self) -> None:
        if self._recording is not None:
            raise RuntimeError("synchronize during graph capture (not allowed by CUDA)")
        self.synchronizations += 1

    def time(self, work) -> float:
        start = time.perf_counter()  # emulated launches run synchronously
        work()
        return time.perf_counter() - start

    def capture(self, launches):
        self.captures += 1
        self._recording = recorded = []
        try:
            launches()
        finally:
            self._recording = None

        def replay():
            for call in recorded:
                self.launch(*call)
        return replay

    def is_array(self, a) -> bool:
        return False   # no device arrays: inputs and outputs are NumPy

    def copy_in(self, dst: int, a) -> None:
        raise TypeError("the emulated device has no device arrays")

    def copy_out(self, src: int, shape: tuple, dtype: str):
        raise TypeError("the emulated device has no device arrays")
