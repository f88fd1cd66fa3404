"""The `Fused` op: one kernel group made by compiler/passes/fusion.py.

attrs: body=<Graph of the group's nodes; its inputs are the node's inputs in order, its
outputs the node's outputs>, pattern=<the anchor's Pattern name>, anchor=<the anchor's op>.
It is OPAQUE to the passes: a fused group never fuses again.
"""

from __future__ import annotations

from ..errors import ShapeError
from .registry import Pattern, TensorType, register


def _show(types: list[TensorType]) -> str:
    return ", ".join(f"{t.dtype}{list(t.shape)}" for t in types)


def infer_fused(*types: TensorType, body, pattern: str, anchor: str) -> tuple[TensorType, ...]:
    expected = [TensorType(v.shape, v.dtype) for v in body.inputs]
    given = [TensorType(tuple(t.shape), str(t.dtype)) for t in types]
    if given != expected:
        raise ShapeError(f"fused body takes ({_show(expected)}), given ({_show(given)})")
    return tuple(TensorType(v.shape, v.dtype) for v in body.outputs)


@register("Fused", Pattern.OPAQUE, infer_fused)
def fused(*arrays, body, pattern: str, anchor: str):
    from ..reference import run_graph  # the reference executor imports this package

    return tuple(run_graph(body, dict(zip(body.inputs, arrays))))
