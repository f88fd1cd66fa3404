"""float16 is a storage format: a kernel loads half, computes in float32 and stores half.

`widen_float16(body)` rewrites one kernel's graph (lowering applies it to every group): each
op that computes on float16 reads its float16 operands through a Cast to float32, computes
in float32 and rounds each float16 result once, through a Cast back to float16.

    %y: float16 = Exp(%x: float16)
becomes
    %x.f32: float32 = Cast(%x; to=float32)
    %y.f32: float32 = Exp(%x.f32)
    %y: float16 = Cast(%y.f32; to=float16)

This is what ONNX Runtime's CPU kernels and the NumPy references (compiler/ops) do: every
op's result is rounded to half once, and reductions, matmuls and convolutions accumulate in
float32. Rewriting the kernel's body, after fusion, leaves the groups as they are for
float32 (kernel inputs and outputs stay half in memory) and gives every op family, template
and backend the rule at once: the Casts inline into the loads and stores. Ops that only
move or select elements (MOVES_ONLY) and Cast itself are exact in any dtype and stay in
float16; float16 constants a widened op reads are widened here, exactly.
"""

from __future__ import annotations

import numpy as np

from .errors import GraphError
from .graph import Graph, Node, Value
from .ops import Pattern, get_op
from .passes.rewrite import Rewriter

HALF, WIDE = "float16", "float32"

MOVES_ONLY = frozenset({"Identity", "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather",
                        "Expand", "Tile", "Pad", "DepthToSpace", "SpaceToDepth", "Trilu", "Where",
                        "Cast"})


def computes_in_half(node: Node) -> bool:
    """Whether `node` does arithmetic on a float16 operand or result."""
    if node.op in MOVES_ONLY or get_op(node.op).pattern == Pattern.OPAQUE:
        return False
    return any(v.dtype == HALF for v in node.inputs + node.outputs)


def widen_float16(body: Graph) -> Graph:
    """`body` with every float16 computation done in float32 (see the module docstring)."""
    if not any(computes_in_half(n) for n in body.nodes):
        return body
    rw = Rewriter(body)
    wide: dict[Value, Value] = {}  # float16 value -> its float32 copy, made once

    def widened(v: Value) -> Value:
        v = rw.get(v)
        if v.dtype != HALF:
            return v
        if v not in wide:
            wide[v] = (rw.new_constant(v.data.astype(np.float32), f"{v.name}.f32") if v.is_const
                       else rw.emit1("Cast", [v], {"to": WIDE}, f"{v.name}.f32"))
        return wide[v]

    for node in body.nodes:
        if not computes_in_half(node):
            rw.keep(node)
            continue
        outs = rw.emit(node.op, [widened(v) for v in node.inputs], node.attrs, node.name)
        for old, new in zip(node.outputs, outs):
            expected = WIDE if old.dtype == HALF else old.dtype
            if (new.shape, new.dtype) != (old.shape, expected):
                raise GraphError(f"{node.op} node {node.name!r} on float32 makes "
                                 f"{new.type_str()}, expected {expected}{list(old.shape)}")
            if old.dtype == HALF:
                rw.emit1("Cast", [new], {"to": HALF}, f"{old.name}.f16", replaces=old)
            else:
                rw.alias(old, new)
    return rw.finish()
