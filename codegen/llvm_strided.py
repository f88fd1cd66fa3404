"""Strided vector memory access without gathers and scatters (about one cycle per element
on Zen): shuffles around contiguous loads and stores instead.

Loads. buf[ramp(base, s, L)] with a small constant stride s reads L elements spread over
[base, base + s*(L-1)]. It becomes s contiguous L-lane loads and one shuffle picking every
s-th element. The last load starts at base + (s-1)*(L-1), so it ends on the last element
the gather would read: nothing outside the elements the gather touches is read. A masked
load spreads the lane mask to every s-th element of s masked contiguous loads (masked-off
elements are never touched), then selects the pass-through value into masked-off lanes.

Stores. K consecutive stores buf[ramp(base + k, S, L)] = v_k, k = 0..K-1 (the conv2d
template's [ow x oc] register tile written to NCHW: L channels S = H*W apart, K columns)
form a K x L tile. It is transposed in registers (log2 L shuffle stages over L rows) and
written as L contiguous K-element stores, one per channel:

    for k in 0..K-1: buf[base + k + S*(0..L-1)] = v_k        # K scatters
    ->  t = transpose([v_0 .. v_K-1])                          # L x K
        for j in 0..L-1: buf[base + j*S + (0..K-1)] = t_j      # L (masked) vector stores
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir

from ..compiler import tir
from ..compiler.tir import Binary, Const, Load, Ramp, Store

I1, I32 = ir.IntType(1), ir.IntType(32)
LOAD_STRIDES = range(2, 9)   # constant strides loaded as contiguous loads + one shuffle
MIN_TILE_ROWS = 2            # a single strided store stays a scatter


# ---------------------------------------------------------------- shuffles


def _indices(values) -> ir.Constant:
    return ir.Constant(ir.VectorType(I32, len(values)), [ir.Constant(I32, v) for v in values])


def _undef(ty: ir.Type):
    return ir.Constant(ty, ir.Undefined)


def concat(b: ir.IRBuilder, vectors: list):
    """One vector holding `vectors` (all the same type) in order, padded with undef lanes
    to a power-of-two count of pieces."""
    while len(vectors) > 1:
        if len(vectors) % 2:
            vectors = vectors + [_undef(vectors[0].type)]
        w = vectors[0].type.count
        vectors = [b.shuffle_vector(vectors[k], vectors[k + 1], _indices(range(2 * w)))
                   for k in range(0, len(vectors), 2)]
    return vectors[0]


def pick(b: ir.IRBuilder, chunks: list, picks: list):
    """The vector [chunks[c][p] for (c, p) in picks]."""
    w = chunks[0].type.count
    wide = concat(b, chunks)
    return b.shuffle_vector(wide, _undef(wide.type), _indices([c * w + p for c, p in picks]))


def transpose(b: ir.IRBuilder, rows: list) -> list:
    """Columns of the matrix whose rows are `rows` (at most n vectors of n lanes, n a power
    of two; missing rows are undef): each stage swaps one bit between row and column index."""
    n = rows[0].type.count
    rows = rows + [_undef(rows[0].type)] * (n - len(rows))
    blk = n // 2
    while blk:
        lo = [j if j & blk == 0 else n + j - blk for j in range(n)]
        hi = [j + blk if j & blk == 0 else n + j for j in range(n)]
        out = list(rows)
        for i in (i for i in range(n) if i & blk == 0):
            out[i] = b.shuffle_vector(rows[i], rows[i + blk], _indices(lo))
            out[i + blk] = b.shuffle_vector(rows[i], rows[i + blk], _indices(hi))
        rows, blk = out, blk // 2
    return rows


def prefix(b: ir.IRBuilder, v, k: int):
    """The first k lanes of v."""
    return v if k == v.type.count else b.shuffle_vector(v, _undef(v.type), _indices(range(k)))


# ---------------------------------------------------------------- loads


def load_stride(index) -> int | None:
    """The stride of a vector index this module loads without a gather, else None."""
    if isinstance(index, Ramp) and isinstance(index.stride, Const) \
            and index.stride.value in LOAD_STRIDES and index.stride.value < index.lanes:
        return index.stride.value
    return None


def strided_load(b: ir.IRBuilder, at, vty: ir.VectorType, stride: int, mask, passthrough):
    """vty loaded from elements 0, stride, 2*stride, ... of the address `at(0)`; `at(k)` is
    the address k elements further. mask (i1 vector) None means every lane."""
    n, size = vty.count, vty.element
    align = _element_bytes(size)
    offsets = [stride * i for i in range(n)]
    if mask is None:
        starts = [k * n for k in range(stride - 1)] + [(stride - 1) * (n - 1)]
        chunks = [b.load(at(s), typ=vty, align=align) for s in starts]
        last = len(starts) - 1
        picks = [(min(o // n, last), o - starts[min(o // n, last)]) for o in offsets]
        return pick(b, chunks, picks)
    from .llvm_math import call_intrinsic
    chunks = []
    no = ir.Constant(ir.VectorType(I1, n), [ir.Constant(I1, 0)] * n)
    for k in range(stride):
        spread = [(k * n + j) // stride if (k * n + j) % stride == 0 else n + j for j in range(n)]
        m = b.shuffle_vector(mask, no, _indices(spread))
        chunks.append(call_intrinsic(b, "llvm.masked.load",
                                     [at(k * n), ir.Constant(I32, align), m, _undef(vty)],
                                     [vty, ir.PointerType()], vty))
    picked = pick(b, chunks, [(o // n, o % n) for o in offsets])
    return b.select(mask, picked, passthrough)


def _element_bytes(ty: ir.Type) -> int:
    width = {ir.HalfType: 16, ir.FloatType: 32, ir.DoubleType: 64}.get(type(ty))
    return (width or ty.width) // 8


def guarded_index(index):
    """(cond, index) of a padding read `buf[select(cond, index, 0)]` (te_lower's guard: lanes
    whose cond is false read element 0), else None."""
    if isinstance(index, tir.Select) and tir.lanes(index.cond.dtype) > 1:
        f = index.f.value if isinstance(index.f, tir.Broadcast) else index.f
        if isinstance(f, Const) and f.value == 0:
            return index.cond, index.t
    return None


# ---------------------------------------------------------------- store tiles


@dataclass(frozen=True)
class StoreTile:
    """K >= MIN_TILE_ROWS stores buf[ramp(base + k, stride, L)] = values[k], none reading buf,
    K <= min(L, stride) so the K x L elements are distinct (the order of the stores is free)."""

    buffer: tir.Buffer
    base: tir.Expr
    stride: tir.Expr
    values: tuple


def _split_offset(e) -> tuple:
    """e = rest + c with c a constant: (rest, c)."""
    if isinstance(e, Const):
        return None, e.value
    if isinstance(e, Binary) and e.op in ("add", "sub") and isinstance(e.b, Const):
        rest, c = _split_offset(e.a)
        return rest, c + (e.b.value if e.op == "add" else -e.b.value)
    return e, 0


def _tile_member(s) -> bool:
    i = s.index if isinstance(s, Store) else None
    return isinstance(i, Ramp) and s.mask is None and isinstance(i.stride, Const) \
        and i.stride.value > 1 and i.lanes & (i.lanes - 1) == 0 \
        and not any(isinstance(x, Load) and x.buffer is s.buffer for x in tir.walk(s.value))


def _extends(run: list, s) -> bool:
    first = run[0]
    if not (_tile_member(s) and s.buffer is first.buffer and s.index.lanes == first.index.lanes
            and s.index.stride == first.index.stride
            and len(run) < min(first.index.lanes, first.index.stride.value)):
        return False
    (r0, c0), (r, c) = _split_offset(first.index.base), _split_offset(s.index.base)
    return r == r0 and c == c0 + len(run)


def group_stores(stmts) -> list:
    """The statements with each run of tile stores replaced by one StoreTile."""
    out, run = [], []

    def flush():
        if len(run) >= MIN_TILE_ROWS:
            i = run[0].index
            out.append(StoreTile(run[0].buffer, i.base, i.stride, tuple(s.value for s in run)))
        else:
            out.extend(run)
        run.clear()

    for s in stmts:
        if run and _extends(run, s):
            run.append(s)
            continue
        flush()
        (run if _tile_member(s) else out).append(s)
    flush()
    return out
