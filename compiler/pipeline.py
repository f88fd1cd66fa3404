"""The graph a model compiles to: the frontend, then the passes of an opt_level.

`tensorforge.compile` lowers this graph and task extraction (tuner/extract.py) tunes its
nodes, so every workload a tuner records is one compile looks up, at any opt_level.
"""

from __future__ import annotations

from typing import Mapping

from .frontend import from_onnx
from .graph import Graph
from .passes import optimize


def model_graph(model, inputs: Mapping | None = None, opt_level: int = 3) -> Graph:
    """`model` (a path, bytes, ModelProto or Graph; `inputs` fixes dynamic dimensions)
    optimized at `opt_level`: 0 is every op its own kernel (passes.UNOPTIMIZED), more the
    full pipeline."""
    graph = model if isinstance(model, Graph) else from_onnx(model, inputs=inputs)
    return optimize(graph, opt_level=opt_level)
