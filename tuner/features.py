"""Loop-IR features for the cost model, in the style of AutoTVM's itervar features.

A kernel is summarized by its main loop nest (the one around the store doing the most work):
for each of its loops, innermost last, the extent, the kind (one-hot), the iterations above
and below it, and for each buffer the nest touches, the access stride along that loop and the
bytes touched under it. Totals (flops, bytes, arithmetic intensity, loops per kind) and the
knob values close the vector. The length is fixed (`FEATURE_LENGTH`) whatever the kernel, so
records of different workloads train one model: that is what makes transfer learning work.
Magnitudes are log2(1 + x): trees split on them as well as on x, and they stay comparable.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiler import tir
from ..compiler.tir_simplify import FOLD

MAX_LOOPS = 8      # innermost loops of the main nest kept (outer ones beyond are dropped)
MAX_BUFFERS = 4    # buffers of the main nest kept (the stored one first)
MAX_KNOBS = 8
KINDS = (tir.SERIAL, tir.PARALLEL, tir.VECTORIZED, tir.UNROLLED)
LOOP_WIDTH = 3 + len(KINDS) + 1 + 2 * MAX_BUFFERS   # extent, top, bottom, kinds, gpu, per buffer
BUFFER_WIDTH = 4
TOTAL_WIDTH = 5 + len(KINDS) + 1
FEATURE_LENGTH = MAX_LOOPS * LOOP_WIDTH + MAX_BUFFERS * BUFFER_WIDTH + TOTAL_WIDTH + MAX_KNOBS


def log2p(x: float) -> float:
    return math.log2(1.0 + abs(x))


# ---------------------------------------------------------------- integer evaluation


def evaluate(e: tir.Expr, env: dict) -> float:
    """Value of an index expression with Vars from `env` (others 0); vectors give lane 0,
    data-dependent parts (loads, calls) count as 0."""
    if isinstance(e, tir.Const):
        return e.value
    if isinstance(e, tir.Var):
        return env.get(e, 0)
    if isinstance(e, (tir.Binary, tir.Compare)):
        return FOLD[e.op](evaluate(e.a, env), evaluate(e.b, env))
    if isinstance(e, tir.Ramp):
        return evaluate(e.base, env)
    if isinstance(e, tir.Broadcast):
        return evaluate(e.value, env)
    if isinstance(e, tir.Cast):
        return evaluate(e.x, env)
    if isinstance(e, tir.Select):
        return evaluate(e.t if evaluate(e.cond, env) else e.f, env)
    return 0


def stride(index: tir.Expr, var: tir.Var) -> float:
    """Elements an access moves when `var` steps by one (others at 0)."""
    return evaluate(index, {var: 1}) - evaluate(index, {var: 0})


def extent(loop: tir.For) -> int:
    return max(int(evaluate(loop.extent, {})), 1)


# ---------------------------------------------------------------- nests


def _stores(stmt, loops: tuple = ()):
    """(store, enclosing loops outermost first) for every Store of a statement."""
    if isinstance(stmt, tir.Store):
        yield stmt, loops
    elif isinstance(stmt, tir.For):
        yield from _stores(stmt.body, loops + (stmt,))
    else:
        for c in tir.children(stmt):
            if isinstance(c, tir.Stmt):
                yield from _stores(c, loops)


def _flops(e) -> int:
    """Float arithmetic operations per evaluation of an expression (fma counts 2)."""
    own = 0
    if isinstance(e, tir.Binary) and tir.is_float(e.dtype):
        own = 1
    elif isinstance(e, tir.Call):
        own = 2 if e.name == "fma" else 1
    return own + sum(_flops(c) for c in tir.children(e))


def _trips(loops) -> int:
    return math.prod(extent(l) for l in loops)


def _accesses(store: tir.Store) -> list[tuple[tir.Buffer, tir.Expr]]:
    loads = [n for n in tir.walk(store.value) if isinstance(n, tir.Load)]
    return [(store.buffer, store.index)] + [(l.buffer, l.index) for l in loads]


def _touched(buffer: tir.Buffer, indices: list, loops) -> int:
    """Distinct elements the accesses touch over `loops` (loops the index ignores reuse)."""
    size = buffer.size if isinstance(buffer.size, int) else int(evaluate(buffer.size, {}))
    worst = max(math.prod(extent(l) for l in loops if stride(i, l.var) != 0) for i in indices)
    return min(worst, max(size, 1))


# ---------------------------------------------------------------- the vector


def _loop_rows(loops, buffers, indices_of) -> np.ndarray:
    rows = np.zeros((MAX_LOOPS, LOOP_WIDTH))
    kept = loops[-MAX_LOOPS:]
    trips = [extent(l) for l in loops]
    first = len(loops) - len(kept)
    for r, loop in enumerate(kept):
        d = first + r
        row = [log2p(trips[d]), log2p(math.prod(trips[:d])), log2p(math.prod(trips[d + 1:]))]
        row += [float(loop.kind == k) for k in KINDS] + [float(loop.kind in tir.GPU_LOOP_KINDS)]
        for b in buffers:
            idx = indices_of[b]
            s = max((abs(stride(i, loop.var)) for i in idx), default=0)
            nbytes = _touched(b, idx, loops[d:]) * tir.bits(b.dtype) / 8
            row += [log2p(s), log2p(nbytes)]
        rows[MAX_LOOPS - len(kept) + r, :len(row)] = row   # innermost loop in the last row
    return rows.ravel()


def _buffer_rows(loops, buffers, indices_of) -> np.ndarray:
    rows = np.zeros((MAX_BUFFERS, BUFFER_WIDTH))
    inner = loops[-1].var if loops else None
    for r, b in enumerate(buffers):
        idx = indices_of[b]
        touched = _touched(b, idx, loops)
        inner_stride = max((abs(stride(i, inner)) for i in idx), default=0) if inner else 0
        reuse = _trips(loops) * len(idx) / max(touched, 1)
        rows[r] = [log2p(touched * tir.bits(b.dtype) / 8), log2p(inner_stride),
                   float(b.scope != "global"), log2p(reuse)]
    return rows.ravel()


def _totals(func: tir.PrimFunc, nests) -> np.ndarray:
    flops = sum(_flops(s.value) * _trips(loops) for s, loops in nests)
    nbytes = sum(b.size * tir.bits(b.dtype) / 8 for b in func.buffers
                 if isinstance(b.size, int))
    loops = [n for n in tir.walk(func.body) if isinstance(n, tir.For)]
    kinds = [sum(l.kind == k for l in loops) for k in KINDS]
    gpu = sum(l.kind in tir.GPU_LOOP_KINDS for l in loops)
    return np.array([log2p(flops), log2p(nbytes), flops / max(nbytes, 1.0), log2p(len(nests)),
                     log2p(len(loops))] + [log2p(k) for k in kinds] + [log2p(gpu)])


def loop_features(func: tir.PrimFunc) -> np.ndarray:
    """The knob-free part of the vector: main-nest loops, its buffers and the totals."""
    nests = list(_stores(func.body))
    if not nests:
        return np.zeros(FEATURE_LENGTH - MAX_KNOBS)
    store, loops = max(nests, key=lambda n: _trips(n[1]) * (_flops(n[0].value) + 1))
    indices_of: dict = {}
    for buf, index in _accesses(store):
        indices_of.setdefault(buf, []).append(index)
    buffers = list(indices_of)[:MAX_BUFFERS]
    return np.concatenate([_loop_rows(loops, buffers, indices_of),
                           _buffer_rows(loops, buffers, indices_of), _totals(func, nests)])


def knob_features(values) -> np.ndarray:
    """Knob values (e.g. ConfigSpace.knob_vector) padded or cut to MAX_KNOBS."""
    out = np.zeros(MAX_KNOBS)
    values = np.asarray(values, dtype=np.float64)[:MAX_KNOBS]
    out[:len(values)] = values
    return out


def featurize(func: tir.PrimFunc, knobs=()) -> np.ndarray:
    """The fixed-length (FEATURE_LENGTH) feature vector of a kernel and its knob values."""
    return np.concatenate([loop_features(func), knob_features(knobs)])
