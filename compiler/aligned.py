"""Host arrays that start on a 64-byte boundary.

Kernels may read constants and the arena with aligned vector loads, so every array a kernel is
passed starts on ALIGNMENT bytes. Weights a template packs are written straight into such an
array: linking then passes it as it is, never a second aligned copy of the whole model.
"""

from __future__ import annotations

import numpy as np

ALIGNMENT = 64


def round_up(n: int, alignment: int = ALIGNMENT) -> int:
    """`n` rounded up to a multiple of `alignment`."""
    return -(-n // alignment) * alignment


def aligned_offsets(sizes, alignment: int = ALIGNMENT) -> tuple[list[int], int]:
    """Regions of `sizes` bytes laid end to end, each starting on `alignment` bytes: their
    offsets and the bytes they span (the executor's output buffers, the CUDA module's slots)."""
    offsets, end = [], 0
    for n in sizes:
        offsets.append(end)
        end += round_up(n, alignment)
    return offsets, end


def aligned_empty(shape, dtype, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an `alignment` boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """`a` itself when already C-contiguous and aligned, else an aligned copy."""
    if a.flags.c_contiguous and a.ctypes.data % ALIGNMENT == 0:
        return a
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out
