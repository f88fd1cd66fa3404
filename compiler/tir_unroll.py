"""Unroll: replace `unrolled` loops of constant extent by copies of their body.

Unrolling is what lets LLVM keep a small Allocate'd accumulator tile in registers: once
every index into the tile is a constant, SROA promotes the stack array to SSA values.
Loops whose extent is not a constant stay serial.
"""

from __future__ import annotations

from . import tir
from .tir_simplify import simplify


def _unroll(s):
    if not (isinstance(s, tir.For) and s.kind == tir.UNROLLED):
        return None
    if not isinstance(s.extent, tir.Const):
        return tir.For(s.var, s.min, s.extent, tir.SERIAL, s.body)
    return tir.seq(*(tir.substitute(s.body, {s.var: s.min + k}) for k in range(s.extent.value)))


def unroll(node):
    """Expand every `unrolled` loop (inner ones first) and simplify the copies' indices."""
    if isinstance(node, tir.PrimFunc):
        return node.with_body(unroll(node.body))
    return simplify(tir.rewrite(node, _unroll))
