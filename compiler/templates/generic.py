"""Default schedules for groups without a conv/matmul anchor: injective chains and reductions.

Every stage that is neither a group output nor a reduction is inlined into its readers.
Injective outputs:

    for f in parallel(0, prod(outer dims)):        # outer axes fused
      for j in vectorized(0, last dim): out[f, j] = <inlined chain>

Row reductions (topi.reduce: softmax, layer-norm, Reduce* and global pools over trailing
axes) run inside the output's fused row loop, each row's statistics vectorized over LANES
partial accumulators and computed once there, however many row stages read them; a row
buffer (softmax's exp, tag ROW_BUFFER) is stored there too when a row fits ROW_BUFFER_BYTES:

    for r in parallel(0, rows):
      stat.partial[l] = identity                      # per statistic, in producer order
      for ko: for l in vectorized(0, LANES): stat.partial[l] = combine(.., src(r, ko*LANES + l))
      stat = combine over l of stat.partial[l]; combine the tail (K % LANES) in
      for j in vectorized(0, row): buf[j] = g(x[r, j], stat ...)        # a row buffer
      for j in vectorized(0, row): out[r, j] = f(x[r, j], buf[j], stat ...)

Other reductions (pools, reductions over leading axes, ArgMax along an inner axis) are
their own loop nest at root: outer data axes fused and parallel, the reduce loops next, the
innermost data axis last and vectorized (accumulating a vector of outputs at once).
Knobs: parallel, vectorize (on by default).
"""

from __future__ import annotations

import math

from .. import te, tir
from ..topi import COMPUTE
from ..topi.reduce import ROW_BUFFER, ROW_PARTIAL
from .registry import Template

PARALLEL_MIN_WORK = 1 << 16  # element-ops below which one thread beats a team (pool start-up)
VECTOR_MIN = 4               # shortest innermost loop worth vectorizing
CHUNK = 256                  # elements per parallel chunk when only one long axis exists
ROW_BUFFER_BYTES = 64 * 1024  # a longer row buffer (softmax's exp) is recomputed instead


def _is_reduce(st) -> bool:
    return isinstance(st.op.body, te.Reduce)


def _work(s) -> int:
    return max((math.prod(st.op.shape) * math.prod(r.extent for r in st.op.reduce_axis)
                for st in s.stages), default=0)


def _direct_inputs(s, st) -> set:
    """Stages st reads, looking through inlined ones."""
    out, todo = set(), list(st.op.input_tensors())
    while todo:
        t = todo.pop()
        try:
            p = s[t]
        except te.TEError:
            continue  # a placeholder
        if p.attach[0] == "inline":
            todo.extend(p.op.input_tensors())
        else:
            out.add(p)
    return out


def _outer_parallel(stage, axes, par: bool):
    """Fuse `axes` (adjacent, outermost) into one loop, parallel when `par`; returns it."""
    if not axes:
        return None
    f = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    if par and f.extent > 1:
        stage.parallel(f)
    return f


def _injective(stage, config, par: bool):
    *outer, last = stage.op.axis
    vec = config.get("vectorize", True) and last.extent >= VECTOR_MIN
    if par and math.prod(a.extent for a in outer) == 1 and last.extent >= 2 * CHUNK:
        lo, li = stage.split(last, CHUNK)
        f = _outer_parallel(stage, outer + [lo], True)
        if vec:
            stage.vectorize(li)
        return f
    _outer_parallel(stage, outer, par)
    if vec:
        stage.vectorize(last)
    return None


def _root_reduce(stage, config, par: bool):
    """outer data axes fused/parallel, reduce loops, innermost data axis vectorized."""
    *outer, last = stage.op.axis
    red = list(stage.op.reduce_axis)
    if config.get("vectorize", True) and last.extent >= VECTOR_MIN:
        stage.reorder(*outer, *red, last)
        stage.vectorize(last)
        _outer_parallel(stage, outer, par)
    else:
        _outer_parallel(stage, outer + [last], par)


def _rows(stage, config, par: bool, attached: bool):
    """A row stage: rows fused (parallel at root), partial lanes (or a row buffer's row)
    innermost and vectorized. Returns its row loop at root, where its producers go."""
    rows = stage.op.attrs["rows"]
    axes = list(stage.op.axis)
    vec = config.get("vectorize", True)
    if stage.op.tag == ROW_PARTIAL:
        stage.reorder(*stage.op.reduce_axis, axes[-1])
        if vec:
            stage.vectorize(axes[-1])
    elif not _is_reduce(stage) and axes[rows:] and vec and axes[-1].extent >= VECTOR_MIN:
        stage.vectorize(axes[-1])
    if attached or rows == 0:
        return None
    return _outer_parallel(stage, axes[:rows], par)


def _root(stage, config, par: bool):
    """A stage at root; returns the loop its row producers are computed at, or None."""
    if "rows" in stage.op.attrs:
        return _rows(stage, config, par, attached=False)
    if _is_reduce(stage):
        _root_reduce(stage, config, par)
        return None
    return _injective(stage, config, par)


def _row_buffer(st) -> bool:
    """A row stage worth storing: one row of it fits in ROW_BUFFER_BYTES."""
    rows = st.op.attrs.get("rows")
    return st.op.tag == ROW_BUFFER and rows is not None and \
        math.prod(st.op.shape[rows:]) * tir.bits(st.tensor.dtype) // 8 <= ROW_BUFFER_BYTES


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    s = te.create_schedule(list(outs))
    for st in s.stages:
        if st.tensor not in outs and not _is_reduce(st) and not _row_buffer(st):
            st.compute_inline()
    par = config.get("parallel", True) and _work(s) >= PARALLEL_MIN_WORK
    live = [st for st in s.stages if st.attach[0] != "inline"]
    home = {}  # stage -> (stage, loop): the row loop its row producers are computed at
    for st in reversed(live):  # consumers first
        homes = {home.get(r) for r in live if st in _direct_inputs(s, r)}
        inner = st.tensor not in outs
        if inner and "rows" in st.op.attrs and len(homes) == 1 and None not in homes:
            (home[st],) = homes  # every reader runs at that row loop: compute it once there
            st.compute_at(*home[st])
            _rows(st, config, par, attached=True)
        elif inner and _row_buffer(st):
            st.compute_inline()  # its readers run at different loops: recompute it in each
        elif (loop := _root(st, config, par)) is not None:
            home[st] = (st, loop)
    return s


def _compute(node, inputs, config):
    return COMPUTE[node.op](node, inputs)


def space(node, target=None) -> dict:
    return {"parallel": [True, False], "vectorize": [True, False]}


def default(node, target=None) -> dict:
    return {"parallel": True, "vectorize": True}


GENERIC_INJECTIVE = Template(name="generic_injective", ops=frozenset(), compute=_compute,
                             schedule=schedule, space=space, default=default)
GENERIC_REDUCTION = Template(name="generic_reduction", ops=frozenset(), compute=_compute,
                             schedule=schedule, space=space, default=default)
