"""The compiler: graph IR, ONNX frontend, graph passes, reference executor."""

from .errors import (GraphError, InputError, ModelError, ShapeError, TensorForgeError,
                     UnsupportedModelError)
from .frontend import from_onnx
from .graph import Graph, GraphBuilder, Node, Value
from .passes import optimize
from .pipeline import model_graph
from .reference import evaluate

__all__ = ["from_onnx", "optimize", "model_graph", "evaluate", "Graph", "GraphBuilder", "Node", "Value",
           "TensorForgeError", "ModelError", "UnsupportedModelError", "ShapeError", "GraphError",
           "InputError"]
