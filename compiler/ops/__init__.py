"""Graph-IR operator semantics, one file per op family; importing this package fills `OPS`."""

from . import (elementwise, fused, linalg, nn, pool, pool_indices, reduce,  # noqa: F401 (they
               resize, tensor)                                           # register ops)
from .registry import (OPS, OpDef, Pattern, TensorType, broadcast_shapes, get_op, infer_types,
                       register, run_op)

__all__ = ["OPS", "OpDef", "Pattern", "TensorType", "broadcast_shapes", "get_op", "infer_types",
           "register", "run_op"]
