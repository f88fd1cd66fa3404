"""The device side of the CUDA runtime: a small interface, and its CuPy implementation.

    device = CupyDevice()                    # CuPy imported here, never by `import tensorforge`
    kernel = device.compile(source, name)    # NVRTC, once per source hash
    base = device.allocate(nbytes)           # a device address (int), 256-byte aligned
    args = device.kernel_args([base + 64, ...])   # converted once, launched many times
    device.upload(base, host_array); device.launch(kernel, grid, block, args)
    device.download(base, host_array); device.synchronize()

Everything is queued on one stream in order; only `synchronize` waits for the host. The
runtime (runtime/cuda_module.py) speaks to any object with these methods, so tests run the
same runtime over an emulated device on host memory (tests/cuda/emulated_device.py).

Code is compiled for the device's own architecture, whatever a target's `-arch` says (that
one only picks tuning records and refuses older devices): CuPy appends `-arch=sm_<device>`
after the caller's options and NVRTC keeps the last `-arch`, and an sm_80 cubin would not
load on an sm_90 device anyway (SASS runs only within one major version).
"""

from __future__ import annotations

import hashlib
from typing import Callable, Protocol, Sequence

import numpy as np

from ..codegen.cuda import CudaCodegenError

ALIGNMENT = 256  # what cudaMalloc guarantees; float4 needs 16


class CudaUnavailableError(CudaCodegenError):
    """CuPy or a CUDA device is missing, so CUDA kernels cannot run here."""


def import_cupy():
    """CuPy, or CudaUnavailableError naming what is missing (the package or a device)."""
    try:
        import cupy
    except ImportError as err:
        raise CudaUnavailableError(f"running CUDA kernels needs CuPy ({err})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as err:
        raise CudaUnavailableError(f"no usable CUDA device: {err}") from None
    if not count:
        raise CudaUnavailableError("no CUDA device")
    return cupy


class Device(Protocol):
    """What the CUDA runtime needs from a device. Addresses are ints; all work is ordered."""

    name: str   # "NVIDIA H100 80GB HBM3"
    arch: str   # "sm_90"

    def compile(self, source: str, name: str): ...

    def allocate(self, nbytes: int) -> int: ...

    def upload(self, dst: int, host: np.ndarray) -> None: ...

    def download(self, src: int, host: np.ndarray) -> None: ...

    def kernel_args(self, addresses: Sequence[int]):
        """A launch's arguments for these addresses, in the form `launch` takes as it is
        (built once per call site, not per launch: Module.run launches every kernel)."""

    def launch(self, kernel, grid: tuple, block: tuple, args) -> None: ...

    def synchronize(self) -> None: ...

    def time(self, work: Callable[[], None]) -> float:
        """Seconds the device spends on the work `work()` queues (CUDA events around it)."""

    def capture(self, launches: Callable[[], None]) -> Callable[[], None]:
        """A replay of the device work `launches()` queues (a CUDA graph): run it later."""

    def is_array(self, a) -> bool:
        """Whether `a` is an array in this device's memory (CuPy's ndarray)."""

    def copy_in(self, dst: int, a) -> None:
        """Device array `a` -> device memory at dst."""

    def copy_out(self, src: int, shape: tuple, dtype: str):
        """A new device array holding a copy of the memory at src."""


class CupyDevice:
    """One CUDA device through CuPy: NVRTC for code, one non-blocking stream for all work."""

    def __init__(self, device_id: int = 0):
        cp = self.cp = import_cupy()  # CudaUnavailableError naming what is missing
        self.device = cp.cuda.Device(device_id)
        self.device.use()
        major, minor = self.device.compute_capability[:-1], self.device.compute_capability[-1]
        self.arch = f"sm_{major}{minor}"
        self.name = cp.cuda.runtime.getDeviceProperties(device_id)["name"].decode()
        self.stream = cp.cuda.Stream(non_blocking=True)
        self._memory: list = []       # keeps allocations alive as long as the device
        self._kernels: dict = {}

    def compile(self, source: str, name: str):
        key = hashlib.sha256(source.encode()).hexdigest()
        if key not in self._kernels:  # CuPy also caches the binary on disk by source
            module = self.cp.RawModule(code=source, options=("-std=c++17",))
            self._kernels[key] = module.get_function(name)
        return self._kernels[key]

    def allocate(self, nbytes: int) -> int:
        memory = self.cp.cuda.alloc(max(nbytes, 1))
        self._memory.append(memory)
        return memory.ptr

    def _copy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        if nbytes:
            self.cp.cuda.runtime.memcpyAsync(dst, src, nbytes, kind, self.stream.ptr)

    def upload(self, dst: int, host: np.ndarray) -> None:
        self._copy(dst, host.ctypes.data, host.nbytes,
                   self.cp.cuda.runtime.memcpyHostToDevice)

    def download(self, src: int, host: np.ndarray) -> None:
        self._copy(host.ctypes.data, src, host.nbytes,
                   self.cp.cuda.runtime.memcpyDeviceToHost)

    def kernel_args(self, addresses) -> tuple:
        return tuple(np.uint64(a) for a in addresses)   # CuPy passes them as 64-bit pointers

    def launch(self, kernel, grid, block, args) -> None:
        kernel(grid, block, args, stream=self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def time(self, work) -> float:
        start, end = self.cp.cuda.Event(), self.cp.cuda.Event()
        start.record(self.stream)
        work()
        end.record(self.stream)
        end.synchronize()
        return self.cp.cuda.get_elapsed_time(start, end) / 1000

    def capture(self, launches):
        self.stream.begin_capture()
        try:
            launches()
        finally:
            graph = self.stream.end_capture()
        return lambda: graph.launch(self.stream)

    def is_array(self, a) -> bool:
        return isinstance(a, self.cp.ndarray)

    def copy_in(self, dst: int, a) -> None:
        a = self.cp.ascontiguousarray(a)
        self.stream.wait_event(self.cp.cuda.get_current_stream().record())  # a is written
        self._copy(dst, a.data.ptr, a.nbytes, self.cp.cuda.runtime.memcpyDeviceToDevice)

    def copy_out(self, src: int, shape: tuple, dtype: str):
        with self.stream:
            out = self.cp.empty(shape, dtype)
        self._copy(out.data.ptr, src, out.nbytes, self.cp.cuda.runtime.memcpyDeviceToDevice)
        return out
