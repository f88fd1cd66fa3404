"""The operator table: for each graph-IR op, its fusion pattern, type inference and NumPy
reference. One table serves the frontend (inference), the passes (patterns, folding) and the
reference executor, so an op's meaning is written once.

IR ops are named like ONNX ops and follow the newest ONNX semantics, except that every static
parameter (axes, pads, shape of Reshape, starts/ends of Slice, ...) is an attribute: converters
resolve them at import time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from ..errors import ShapeError, TensorForgeError


class Pattern(enum.IntEnum):
    """Fusion patterns as in TVM: a lower value fuses more freely."""

    ELEMWISE = 0
    BROADCAST = 1
    INJECTIVE = 2
    REDUCTION = 3
    OUT_ELEMWISE_FUSABLE = 4
    OPAQUE = 8


class TensorType(NamedTuple):
    shape: tuple[int, ...]
    dtype: str


InferFn = Callable[..., "TensorType | Sequence[TensorType]"]
ComputeFn = Callable[..., "np.ndarray | Sequence[np.ndarray]"]


@dataclass(frozen=True)
class OpDef:
    """What one IR op means. `infer(*input_types, **attrs)` and `compute(*arrays, **attrs)`
    take the same attributes; both return one result or a tuple of results."""

    name: str
    pattern: Pattern
    infer: InferFn
    compute: ComputeFn


OPS: dict[str, OpDef] = {}


def register(name: str, pattern: Pattern, infer: InferFn) -> Callable[[ComputeFn], ComputeFn]:
    """Decorator: `@register("Relu", Pattern.ELEMWISE, same_type)` on the NumPy reference."""

    def wrap(fn: ComputeFn) -> ComputeFn:
        if name in OPS:
            raise TensorForgeError(f"op {name} is registered twice")
        OPS[name] = OpDef(name, pattern, infer, fn)
        return fn

    return wrap


def get_op(op: str) -> OpDef:
    try:
        return OPS[op]
    except KeyError:
        raise TensorForgeError(f"graph IR has no op named {op!r}") from None


def infer_types(op: str, inputs: Sequence[Any], attrs: Mapping[str, Any],
                where: str = "") -> list[TensorType]:
    """Output types of `op` applied to `inputs` (Values or TensorTypes); errors name `where`."""
    types = [TensorType(tuple(v.shape), str(v.dtype)) for v in inputs]
    try:
        out = get_op(op).infer(*types, **attrs)
    except ShapeError as e:
        raise ShapeError(f"{where or op}: {e}") from None
    except (TypeError, ValueError, IndexError) as e:
        shown = ", ".join(f"{t.dtype}{list(t.shape)}" for t in types)
        raise ShapeError(f"{where or op}: cannot infer output types from inputs ({shown}) "
                         f"and attributes {dict(attrs)}: {e}") from None
    outs = [out] if isinstance(out, TensorType) else list(out)
    return [TensorType(tuple(int(d) for d in t.shape), str(np.dtype(t.dtype))) for t in outs]


def run_op(op: str, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
    """Evaluate one op with its NumPy reference; always returns a list of arrays. An op
    whose outputs are all empty has nothing to compute: its reference is not run."""
    if any(np.size(a) == 0 for a in arrays):
        types = infer_types(op, [np.asarray(a) for a in arrays], attrs)
        if all(0 in t.shape for t in types):
            return [np.empty(t.shape, t.dtype) for t in types]
    out = get_op(op).compute(*arrays, **attrs)
    return [np.asarray(o) for o in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]


# -- inference helpers shared by the op families --------------------------------------------

def same_type(x: TensorType, *rest: TensorType, **attrs: Any) -> TensorType:
    """The output has the first input's shape and dtype (unary elementwise ops)."""
    return x


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """Numpy/ONNX multidirectional broadcasting, with a ShapeError naming both shapes."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError("shapes " + " and ".join(str(list(s)) for s in shapes)
                             + " do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def require_dtype(t: TensorType, allowed: set[str], what: str) -> None:
    if t.dtype not in allowed:
        raise ShapeError(f"{what} has dtype {t.dtype}; expected one of {sorted(allowed)}")


FLOAT_TYPES = {"float16", "float32", "float64"}
INT_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
NUMERIC_TYPES = FLOAT_TYPES | INT_TYPES
