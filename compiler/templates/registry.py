"""Schedule templates: how one anchor-op family is computed and scheduled, with the knobs the
tuner searches. Lowering (compiler/lower.py) picks the first registered template whose `ops`
holds the group's anchor op, whose `target_kinds` holds the target's kind ("llvm", "cuda")
and whose `applies(node)` is true; groups without a heavy anchor use the generic
injective/reduction templates of the target's kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..tir import target_kind

Config = dict[str, Any]


@dataclass(frozen=True)
class Template:
    """compute(node, inputs, config) -> te.Tensor: the anchor's output from te placeholders of
        the node's inputs (packed shapes where `pack` replaced a constant).
    schedule(outs, anchor, config, target) -> te.Schedule: schedules the whole group; `outs` are
        the group's output tensors, `anchor` the tensor `compute` returned (epilogue stages sit
        between them and are inlined or computed at the anchor's tile).
    space(node, target) -> {knob: [candidate values]}; default(node, target) -> Config, a point
        of that space (tune measures it first; tests/tuner/test_template_defaults.py checks).
    pack(node, config) -> {input index: np.ndarray}: compile-time re-layout of constant inputs
        (e.g. weights to OIHW16o); the kernel then takes the packed constant instead.
    target_kinds: the target kinds it schedules for (CPU templates: "llvm"; GPU: "cuda")."""

    name: str
    ops: frozenset[str]
    compute: Callable
    schedule: Callable
    space: Callable
    default: Callable
    applies: Callable = field(default=lambda node: True)
    pack: Callable | None = None
    target_kinds: frozenset = frozenset({"llvm"})


TEMPLATES: list[Template] = []


def register_template(template: Template) -> Template:
    if any(t.name == template.name for t in TEMPLATES):
        raise ValueError(f"template {template.name} registered twice")
    TEMPLATES.append(template)
    return template


def select_template(node, target=None) -> Template | None:
    """The template for an anchor node (a plain IR node) on `target` (None: the host CPU),
    or None for generic scheduling."""
    kind = target_kind(target)
    for t in TEMPLATES:
        if node.op in t.ops and kind in t.target_kinds and t.applies(node):
            return t
    return None
