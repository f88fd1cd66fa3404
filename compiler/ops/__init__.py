"""Graph-IR operator semantics, one file per op family; importing this package fills `OPS`."""

from . import elementwise, linalg, nn, reduce, tensor  # noqa: F401  (registration side effects)
from .registry import (OPS, OpDef, Pattern, TensorType, broadcast_shapes, get_op, infer_types,
                       register, run_op)

__all__ = ["OPS", "OpDef", "Pattern", "TensorType", "broadcast_shapes", "get_op", "infer_types",
           "register", "run_op"]
