"""Graph-IR operator semantics, one file per op family; importing this package fills `OPS`."""

from . import (elementwise, fused, linalg, nn, pool, reduce, resize,  # noqa: F401 (they register ops)
               tensor)
from .registry import (OPS, OpDef, Pattern, TensorType, broadcast_shapes, get_op, infer_types,
                       register, run_op)

__all__ = ["OPS", "OpDef", "Pattern", "TensorType", "broadcast_shapes", "get_op", "infer_types",
           "register", "run_op"]
