"""Built-in workloads, like TVM's relay.testing: real architectures built in code as ONNX
models (opset 17, float32, seeded random weights, no downloads), so a model can be compiled
and benchmarked without files of one's own.

    from tensorforge import workloads
    model, feeds = workloads.get("resnet18", batch=1, seed=0)
    onnx.save(model, "resnet18.onnx")

The same (name, batch, seed) always gives byte-identical models and identical feeds.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import onnx

from ..compiler.errors import InputError
from .bert import VOCAB, bert
from .cnn import convbnrelu, mobilenetv2, resnet18, resnet50
from .dense import gemm, mlp

GEMM_SIZES = (256, 512, 1024, 2048)

# name -> builder(batch=..., seed=...) -> ModelProto
BUILDERS: dict[str, Callable[..., onnx.ModelProto]] = {
    "mlp": mlp, "resnet18": resnet18, "resnet50": resnet50, "mobilenetv2": mobilenetv2,
    "bert": bert, "convbnrelu": convbnrelu,
    **{f"gemm{n}": functools.partial(gemm, n) for n in GEMM_SIZES},
}
NAMES = list(BUILDERS)


def _input_shape(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(d.dim_value for d in value.type.tensor_type.shape.dim)


def _token_feeds(model: onnx.ModelProto, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Token ids in [1, VOCAB) for each row's first L positions (L drawn in [S/2, S]), then
    padding: id 0 with attention_mask 0, so the mask matters."""
    batch, seq = _input_shape(model.graph.input[0])
    lengths = rng.integers(seq // 2, seq + 1, size=(batch, 1))
    mask = (np.arange(seq)[None] < lengths).astype(np.int64)
    ids = rng.integers(1, VOCAB, size=(batch, seq), dtype=np.int64) * mask
    return {"input_ids": ids, "attention_mask": mask}


def _normal_feeds(model: onnx.ModelProto, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A standard-normal float32 array per graph input."""
    return {i.name: rng.standard_normal(_input_shape(i), dtype=np.float32)
            for i in model.graph.input}


# graph input names -> how to draw feeds for them; anything else gets standard normals
FEEDS = {("input_ids", "attention_mask"): _token_feeds}


def feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Example inputs for a workload model (any batch or size), from a generator seeded `seed`."""
    draw = FEEDS.get(tuple(i.name for i in model.graph.input), _normal_feeds)
    return draw(model, np.random.default_rng(seed))


def get(name: str, batch: int = 1, seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The workload `name` (one of NAMES) at `batch`, weights from `seed`, and feeds for it
    drawn from a generator seeded with `seed` too."""
    if name not in BUILDERS:
        raise InputError(f"unknown workload {name!r}; known: {', '.join(NAMES)}")
    if not isinstance(batch, int) or batch < 1:
        raise InputError(f"workload batch must be a positive int, got {batch!r}")
    model = BUILDERS[name](batch=batch, seed=seed)
    return model, feeds(model, seed)


__all__ = ["NAMES", "get", "feeds", "mlp", "resnet18", "resnet50", "mobilenetv2", "bert",
           "convbnrelu", "gemm"]
