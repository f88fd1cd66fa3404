"""Matrix products (MatMul, Gemm, Einsum) and the matrix-shaped Trilu.

Products of float16 accumulate in float32 as ONNX Runtime does; float32 stays float32.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import ShapeError
from .reduce import accumulate_dtype
from .registry import (NUMERIC_TYPES, Pattern, TensorType, broadcast_shapes, register,
                       require_dtype)


def _same_dtype(op: str, *types: TensorType) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"{op} operands have different dtypes {[t.dtype for t in types]}")
    require_dtype(types[0], NUMERIC_TYPES, f"{op} operand")
    return types[0].dtype


def _product(fn, *arrays):
    """fn over the arrays widened to their accumulation dtype, cast back to theirs."""
    dtype = arrays[0].dtype
    acc = accumulate_dtype(dtype)
    return np.asarray(fn(*(a.astype(acc, copy=False) for a in arrays))).astype(dtype)


# -- MatMul --------------------------------------------------------------------------------

def _matmul_infer(a: TensorType, b: TensorType) -> TensorType:
    """numpy.matmul shapes: a 1-D operand gains a dim of 1 that is then dropped again;
    leading (batch) dims broadcast."""
    dtype = _same_dtype("MatMul", a, b)
    if not a.shape or not b.shape:
        raise ShapeError(f"MatMul operands must have rank >= 1, given {list(a.shape)} and "
                         f"{list(b.shape)}")
    a2 = a.shape if len(a.shape) > 1 else (1, *a.shape)
    b2 = b.shape if len(b.shape) > 1 else (*b.shape, 1)
    if a2[-1] != b2[-2]:
        raise ShapeError(f"MatMul contracts {list(a.shape)} with {list(b.shape)}: inner "
                         f"dimensions {a2[-1]} and {b2[-2]} differ")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    rows = a2[-2:-1] if len(a.shape) > 1 else ()
    cols = b2[-1:] if len(b.shape) > 1 else ()
    return TensorType((*batch, *rows, *cols), dtype)


@register("MatMul", Pattern.OUT_ELEMWISE_FUSABLE, _matmul_infer)
def matmul(a, b):
    return _product(np.matmul, a, b)


# -- Gemm ----------------------------------------------------------------------------------

def _gemm_infer(a: TensorType, b: TensorType, c: TensorType | None = None, *, alpha: float,
                beta: float, transA: int, transB: int) -> TensorType:
    """Y[M, N] = alpha * A'[M, K] @ B'[K, N] + beta * C, C broadcasting to (M, N)."""
    dtype = _same_dtype("Gemm", a, b, *([] if c is None else [c]))
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ShapeError(f"Gemm needs 2-D A and B, given {list(a.shape)} and {list(b.shape)}")
    m, k = a.shape[::-1] if transA else a.shape
    kb, n = b.shape[::-1] if transB else b.shape
    if k != kb:
        raise ShapeError(f"Gemm contracts A {list(a.shape)} (transA={transA}) with B "
                         f"{list(b.shape)} (transB={transB}): inner dimensions {k} and {kb} "
                         "differ")
    if c is not None and (len(c.shape) > 2 or any(
            d not in (1, out) for d, out in zip(c.shape[::-1], (n, m)))):
        raise ShapeError(f"Gemm bias C of shape {list(c.shape)} does not broadcast to the "
                         f"output shape {[m, n]}")
    return TensorType((m, n), dtype)


@register("Gemm", Pattern.OUT_ELEMWISE_FUSABLE, _gemm_infer)
def gemm(a, b, c=None, *, alpha, beta, transA, transB):
    def f(a, b, *c):
        y = a.dtype.type(alpha) * ((a.T if transA else a) @ (b.T if transB else b))
        return y + a.dtype.type(beta) * c[0] if c else y

    return _product(f, a, b, *([] if c is None else [c]))


# -- Einsum --------------------------------------------------------------------------------

_TERM = re.compile(r"[a-zA-Z]*(\.\.\.)?[a-zA-Z]*")


def split_equation(equation: str) -> tuple[list[str], str]:
    """Input terms and output term; an implicit output is made explicit (ONNX/numpy rule:
    the ellipsis, then every letter used exactly once, in alphabetical order)."""
    eq = "".join(equation.split())
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if not arrow:
        letters = "".join(terms).replace("...", "")
        out = ("..." if "..." in lhs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    for t in [*terms, out]:
        if not _TERM.fullmatch(t):
            raise ShapeError(f"Einsum equation {equation!r}: term {t!r} is not letters with at "
                             "most one '...'")
    return terms, out


def normalize_equation(equation: str) -> str:
    """No spaces, output explicit: 'ij, jk' -> 'ij,jk->ik'."""
    terms, out = split_equation(equation)
    return ",".join(terms) + "->" + out


def _einsum_infer(*operands: TensorType, equation: str) -> TensorType:
    terms, out = split_equation(equation)
    dtype = _same_dtype("Einsum", *operands)
    if len(terms) != len(operands):
        raise ShapeError(f"Einsum equation {equation!r} has {len(terms)} input terms, given "
                         f"{len(operands)} operands")
    sizes: dict[str, int] = {}
    ellipsis: tuple[int, ...] = ()
    for term, t in zip(terms, operands):
        head, dots, tail = term.partition("...")
        n_ell = len(t.shape) - len(head) - len(tail)
        if n_ell < 0 or (n_ell and not dots):
            raise ShapeError(f"Einsum term {term!r} does not fit operand shape {list(t.shape)}")
        ellipsis = broadcast_shapes(ellipsis, t.shape[len(head):len(head) + n_ell])
        labelled = zip(head + tail, t.shape[:len(head)] + t.shape[len(t.shape) - len(tail):])
        own: dict[str, int] = {}
        for c, d in labelled:
            if own.setdefault(c, d) != d:
                raise ShapeError(f"Einsum term {term!r} repeats {c!r} over dims of sizes "
                                 f"{own[c]} and {d} in shape {list(t.shape)}")
            prev = sizes.get(c, d)
            if prev != d and 1 not in (prev, d):
                raise ShapeError(f"Einsum label {c!r} has sizes {prev} and {d}")
            sizes[c] = d if prev == 1 else prev
    letters = out.replace("...", "")
    bad = [c for c in letters if c not in sizes or letters.count(c) > 1]
    if bad:
        raise ShapeError(f"Einsum output {out!r} of {equation!r}: labels {bad} are repeated or "
                         "not in any input")
    if ellipsis and "..." not in out:
        raise ShapeError(f"Einsum output {out!r} of {equation!r} needs '...' to keep the "
                         f"broadcast dims {list(ellipsis)}")
    head, _, tail = out.partition("...")
    return TensorType(tuple(sizes[c] for c in head) + (ellipsis if "..." in out else ())
                      + tuple(sizes[c] for c in tail), dtype)


@register("Einsum", Pattern.OUT_ELEMWISE_FUSABLE, _einsum_infer)
def einsum(*operands, equation):
    return _product(lambda *xs: np.einsum(normalize_equation(equation), *xs), *operands)


# -- Trilu ---------------------------------------------------------------------------------

def _trilu_infer(x: TensorType, *, upper: int, k: int) -> TensorType:
    if len(x.shape) < 2:
        raise ShapeError(f"Trilu needs an input of rank >= 2, given shape {list(x.shape)}")
    return x


@register("Trilu", Pattern.INJECTIVE, _trilu_infer)
def trilu(x, *, upper, k):
    """Keep the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims."""
    return np.triu(x, k) if upper else np.tril(x, k)
