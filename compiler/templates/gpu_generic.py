"""GPU schedules for groups without a conv/matmul anchor: injective chains (elementwise with
fused epilogues, broadcasts, layout ops, resize, ...), reductions and pools.

Every stage that is neither a group output nor a reduction is inlined into its readers. An
output is scheduled one of two ways.

One thread per output point (injective outputs, pools, reductions over leading axes, rows
reduced by a thread each); a reduction the output reads is computed per thread:

    for b in blockIdx.x(0, ceil(points / threads)):
      for t in threadIdx.x(0, threads):                       # p = b * threads + t < points
        stat = allocate(float32, [..], local)                 # what point p reads, if any
        for k...: stat = combine(stat, src(p, k))
        out[p] = f(in[p], stat ...)

One block per row, for an output that reads row reductions and has several points per row
(softmax, layer-norm): topi.reduce's row statistics are computed once
per row at the block loop, the LANES partial accumulators by LANES threads in shared memory,
their combine in every thread (a two-level reduction), then the block's threads sweep the row:

    for r in blockIdx.x(0, rows):
      partial = allocate(float32, [1, LANES], shared)
      barrier()
      for l in threadIdx.x(0, LANES):                         # l < LANES of the block
        partial[l] = identity; for ko: partial[l] = combine(.., src(r, ko * LANES + l))
      barrier()
      stat = combine over l of partial[l], and the row's tail  # local, every thread
      for t in threadIdx.x(0, row_threads):
        for co in serial(0, ceil(cols / row_threads)):        # c = co * row_threads + t
          out[r, c] = f(x[r, c], stat ...)

Knobs: threads (block size of the one-thread-per-point form), row_threads (block size of the
block-per-row form).
"""

from __future__ import annotations

import math

from .. import te
from ..topi.reduce import ROW_PARTIAL
from .generic import _compute, _direct_inputs, _is_reduce
from .gpu_common import bind_flat, fuse_all, round_threads
from .registry import Template


def _per_row(stage) -> bool:
    """An output reading row statistics with more than one point per row (else each thread
    reduces the row of its point: global pools, per-row results)."""
    rows = stage.op.attrs.get("rows")
    return rows is not None and not _is_reduce(stage) and math.prod(stage.op.shape[rows:]) > 1


def _per_point(stage, config):
    """One thread per data point of `stage`; returns its thread loop."""
    axes = list(stage.op.axis)
    return bind_flat(stage, axes, round_threads(config["threads"], math.prod(stage.op.shape)))


def _per_block_row(stage, config):
    """A block per row (the leading `rows` axes), the row's points over the block's threads;
    returns the block loop (where the row statistics go)."""
    rows, axes = stage.op.attrs["rows"], list(stage.op.axis)
    if rows:
        block, cols = fuse_all(stage, axes[:rows]), axes[rows:]
    else:  # the whole tensor is one row: a grid of one block
        block, first = stage.split(axes[0], nparts=1)
        cols = [first] + axes[1:]
    stage.bind(block, "blockIdx.x")
    threads = round_threads(config["row_threads"], math.prod(stage.op.shape[rows:]))
    co, t = stage.split(fuse_all(stage, cols), threads)
    stage.reorder(t, co)
    stage.bind(t, "threadIdx.x")
    return block


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    s = te.create_schedule(list(outs))
    for st in s.stages:
        if st.tensor not in outs and not _is_reduce(st):
            st.compute_inline()
    live = [st for st in s.stages if st.attach[0] != "inline"]
    readers = {st: [r for r in live if r is not st and st in _direct_inputs(s, r)]
               for st in live}
    home = {}  # stage -> (stage, loop, per row): where it (and what it reads) is computed
    for st in reversed(live):  # consumers first
        if st.tensor in outs:
            if readers[st]:
                raise te.TEError(f"output {st.name} is also read by {readers[st][0].name}; "
                                 "blocks cannot wait for each other within a GPU kernel")
            row = _per_row(st)
            home[st] = (st, _per_block_row(st, config) if row else _per_point(st, config), row)
            continue
        homes = {home[r] for r in readers[st]}
        if len(homes) != 1:
            raise te.TEError(f"{st.name} is read at {len(homes)} different loops "
                             f"({[r.name for r in readers[st]]}); a GPU kernel computes it "
                             "once, at one loop")
        (home[st],) = homes
        stage, loop, row = home[st]
        st.compute_at(stage, loop)
        if row and st.op.tag == ROW_PARTIAL:
            st.bind(st.op.axis[-1], "threadIdx.x")  # the LANES partials, one per thread
    return s


def space(node, target=None) -> dict:
    return {"threads": [64, 128, 256, 512, 1024], "row_threads": [32, 64, 128, 256, 512]}


def default(node, target=None) -> dict:
    return {"threads": 256, "row_threads": 128}


GPU_INJECTIVE = Template(name="gpu_injective", ops=frozenset(), compute=_compute,
                         schedule=schedule, space=space, default=default,
                         target_kinds=frozenset({"cuda"}))
GPU_REDUCTION = Template(name="gpu_reduction", ops=frozenset(), compute=_compute,
                         schedule=schedule, space=space, default=default,
                         target_kinds=frozenset({"cuda"}))
