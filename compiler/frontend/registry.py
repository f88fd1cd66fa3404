"""Converter registry keyed by (ONNX op type, opset): a converter registered `since=N` serves
every opset >= N until a newer registration for the same op takes over (TVM's `_impl_vN`)."""

from __future__ import annotations

import bisect
from typing import Callable

CONVERTERS: dict[str, list[tuple[int, Callable]]] = {}

MIN_OPSET = 9
MAX_OPSET = 28


def converter(*op_types: str, since: int = 1) -> Callable[[Callable], Callable]:
    """Register `fn(ctx, node) -> Value | sequence of Values` for ops at opset >= since."""

    def wrap(fn: Callable) -> Callable:
        for op in op_types:
            versions = CONVERTERS.setdefault(op, [])
            if any(v == since for v, _ in versions):
                raise ValueError(f"converter for {op} since opset {since} registered twice")
            bisect.insort(versions, (since, fn), key=lambda e: e[0])
        return fn

    return wrap


def lookup(op_type: str, opset: int) -> Callable | None:
    """The converter for `op_type` at `opset`, or None if the op (at that opset) is unknown."""
    versions = CONVERTERS.get(op_type, [])
    usable = [fn for since, fn in versions if since <= opset]
    return usable[-1] if usable else None


def supported_ops() -> dict[str, list[int]]:
    """Op type -> the opsets where its converter changes (for coverage tables and errors)."""
    return {op: [since for since, _ in versions] for op, versions in sorted(CONVERTERS.items())}
