"""ONNX frontend: converters per (op type, opset) produce the graph IR."""

from . import (elementwise, linalg, nn, reduce, resize,  # noqa: F401 (registration side effects)
               tensor)
from .importer import from_onnx, load_model
from .registry import MAX_OPSET, MIN_OPSET, supported_ops

__all__ = ["from_onnx", "load_model", "supported_ops", "MIN_OPSET", "MAX_OPSET"]
