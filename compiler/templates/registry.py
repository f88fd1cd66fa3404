"""Schedule templates: how one anchor-op family is computed and scheduled, with the knobs the
tuner searches. Lowering (compiler/lower.py) picks the first registered template whose `ops`
holds the group's anchor op and whose `applies(node)` is true; groups without a heavy anchor
use the generic injective/reduction templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Config = dict[str, Any]


@dataclass(frozen=True)
class Template:
    """compute(node, inputs, config) -> te.Tensor: the anchor's output from te placeholders of
        the node's inputs (packed shapes where `pack` replaced a constant).
    schedule(outs, anchor, config, target) -> te.Schedule: schedules the whole group; `outs` are
        the group's output tensors, `anchor` the tensor `compute` returned (epilogue stages sit
        between them and are inlined or computed at the anchor's tile).
    space(node, target) -> {knob: [candidate values]}; default(node, target) -> Config.
    pack(node, config) -> {input index: np.ndarray}: compile-time re-layout of constant inputs
        (e.g. weights to OIHW16o); the kernel then takes the packed constant instead."""

    name: str
    ops: frozenset[str]
    compute: Callable
    schedule: Callable
    space: Callable
    default: Callable
    applies: Callable = field(default=lambda node: True)
    pack: Callable | None = None


TEMPLATES: list[Template] = []


def register_template(template: Template) -> Template:
    if any(t.name == template.name for t in TEMPLATES):
        raise ValueError(f"template {template.name} registered twice")
    TEMPLATES.append(template)
    return template


def select_template(node) -> Template | None:
    """The template for an anchor node (a plain IR node), or None for generic scheduling."""
    for t in TEMPLATES:
        if node.op in t.ops and t.applies(node):
            return t
    return None
