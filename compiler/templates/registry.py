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
    target_kinds: the target kinds it schedules for (CPU templates: "llvm"; GPU: "cuda").
    alternative: another algorithm for ops a first template already lowers (Winograd conv:
        inexact, faster only on some shapes): never picked by default, only when a config
        names it ({"template": name, ...}, from a tuning record); the tuner tunes it as a
        task of its own beside the default template's."""

    name: str
    ops: frozenset[str]
    compute: Callable
    schedule: Callable
    space: Callable
    default: Callable
    applies: Callable = field(default=lambda node: True)
    pack: Callable | None = None
    target_kinds: frozenset = frozenset({"llvm"})
    alternative: bool = False


TEMPLATES: list[Template] = []


def register_template(template: Template) -> Template:
    if any(t.name == template.name for t in TEMPLATES):
        raise ValueError(f"template {template.name} registered twice")
    TEMPLATES.append(template)
    return template


def _fits(t: Template, node, kind: str) -> bool:
    return node.op in t.ops and kind in t.target_kinds and t.applies(node)


def select_template(node, target=None, name: str | None = None) -> Template | None:
    """The template for an anchor node (a plain IR node) on `target` (None: the host CPU):
    the first non-alternative one that fits, or the one called `name` if it fits; None for
    generic scheduling."""
    kind = target_kind(target)
    for t in TEMPLATES:
        if (t.name == name if name else not t.alternative) and _fits(t, node, kind):
            return t
    return None


def alternative_templates(node, target=None) -> list[str]:
    """Names of the alternative templates that fit `node` on `target` (tuned beside its
    default template)."""
    kind = target_kind(target)
    return [t.name for t in TEMPLATES if t.alternative and _fits(t, node, kind)]
