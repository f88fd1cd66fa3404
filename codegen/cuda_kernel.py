"""Run a CUDA kernel through CuPy (RawModule, i.e. NVRTC), imported only when first called.

    kernel = CudaKernel(func)      # source and launch dims now; no CuPy needed
    kernel(a, b, out)              # numpy arrays (copied in and back) or CuPy arrays

Never run on a GPU yet (no device where this was written): treat it as a sketch whose
argument checks are tested and whose launch path is not.
"""

from __future__ import annotations

import numpy as np

from ..compiler import tir
from .cuda import CudaCodegenError, cuda_source, kernel_name, launch_dims

ALIGNMENT = 16  # float4 accesses assume 16-byte aligned buffers


class CudaUnavailableError(CudaCodegenError):
    """CuPy or a CUDA device is missing, so a CUDA kernel cannot run here."""


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


class CudaKernel:
    """A PrimFunc as CUDA: `source` and `grid`/`block` at once, compilation on first call."""

    def __init__(self, func: tir.PrimFunc, fast_math: bool = True):
        self.func, self.source = func, cuda_source(func, fast_math)
        self.grid, self.block = launch_dims(func)
        self._function = None

    def __call__(self, *args):
        cp = import_cupy()
        params = self.func.params
        if len(args) != len(params):
            raise TypeError(f"{self.func.name} takes {len(params)} arguments "
                            f"({', '.join(p.name for p in params)}), got {len(args)}")
        device = [self._device_arg(cp, p, a) for p, a in zip(params, args)]
        if self._function is None:
            module = cp.RawModule(code=self.source, options=("-std=c++17",))
            self._function = module.get_function(kernel_name(self.func))
        self._function(self.grid, self.block, tuple(device))
        for a, d in zip(args, device):
            if isinstance(a, np.ndarray):
                a[...] = cp.asnumpy(d)

    def _device_arg(self, cp, p, a):
        if not isinstance(p, tir.Buffer):
            return np.dtype(p.dtype).type(a)
        if a.dtype != np.dtype(p.dtype) or a.shape != p.shape:
            raise TypeError(f"{self.func.name}: argument {p.name!r} must be "
                            f"{p.dtype}{list(p.shape)}, got {a.dtype}{list(a.shape)}")
        d = cp.ascontiguousarray(cp.asarray(a))
        if d.data.ptr % ALIGNMENT:
            raise ValueError(f"{self.func.name}: argument {p.name!r} is not "
                             f"{ALIGNMENT}-byte aligned")
        return d
