"""The compiler: graph IR, ONNX frontend, graph passes, reference executor."""

from .errors import (GraphError, InputError, ModelError, ShapeError, TensorForgeError,
                     UnsupportedModelError)
from .frontend import from_onnx
from .graph import Graph, GraphBuilder, Node, Value
from .passes import optimize
from .reference import evaluate

__all__ = ["from_onnx", "optimize", "evaluate", "Graph", "GraphBuilder", "Node", "Value",
           "TensorForgeError", "ModelError", "UnsupportedModelError", "ShapeError", "GraphError",
           "InputError"]
