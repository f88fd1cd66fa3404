"""Helpers every TE operator definition shares: reading an input under broadcasting, reading
the right element of a constant, compile-time tables as constant tensors, and the error an
unsupported op or attribute raises.

A compile-time table (Resize taps, pooling divisors) is a placeholder carrying `.data`: the
lowering turns every such placeholder into a new constant Value bound to a kernel param.
"""

from __future__ import annotations

import numpy as np

from .. import te, tir
from ..errors import TensorForgeError


class LoweringError(TensorForgeError):
    """A node cannot be lowered to loop IR (unsupported op, attribute or dtype)."""


def broadcast_index(shape: tuple, out_idx: tuple) -> tuple:
    """Indices into a tensor of `shape` that broadcasts (numpy rules) to the output indexed by
    `out_idx`: trailing dims align, size-1 dims read index 0."""
    lead = len(out_idx) - len(shape)
    return tuple(tir.const(0) if d == 1 else out_idx[lead + k] for k, d in enumerate(shape))


def read(t: te.Tensor, idx: tuple):
    """t[idx]; an empty index reads a 0-d value (held in a te tensor of shape (1,))."""
    return t[idx] if idx else t[(tir.const(0),) * t.ndim]


def bread(t: te.Tensor, out_idx: tuple):
    """t read at the broadcast position of output index `out_idx`."""
    return t[broadcast_index(t.shape, out_idx)]


def compute(shape: tuple, fcompute, name: str, **kwargs) -> te.Tensor:
    """te.compute over a value's shape; a 0-d value becomes a te tensor of shape (1,) (loop
    IR buffers have at least one dim) and `fcompute` is called with no indices."""
    if shape:
        return te.compute(tuple(shape), fcompute, name, **kwargs)
    return te.compute((1,), lambda _: fcompute(), name, **kwargs)


def table(data: np.ndarray, name: str) -> te.Tensor:
    """A compile-time constant array as a tensor (becomes a constant kernel input)."""
    data = np.ascontiguousarray(data)
    t = te.placeholder(tuple(data.shape) or (1,), str(data.dtype), name)
    t.op.data = data.reshape(t.shape)
    return t


def const_like(value, dtype: str) -> tir.Const:
    return tir.Const(value, dtype)


def lowest(dtype: str):
    """The smallest value of a dtype (finite for floats: ONNX Runtime pads MaxPool with it)."""
    if tir.is_float(dtype):
        return float(np.finfo(dtype).min)
    if dtype == "bool":
        return False
    return int(np.iinfo(dtype).min)


def te_shape(shape) -> tuple:
    """The te shape holding a value of `shape` (0-d values are held as (1,))."""
    return tuple(shape) or (1,)


def unsupported(node, what: str) -> LoweringError:
    return LoweringError(f"cannot lower {node.op} node {node.name or ''!r}: {what}")
