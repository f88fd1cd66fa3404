"""Lower a Schedule to loop IR: `lower(s, [A, B, C], name) -> tir.PrimFunc`.

1. inline: bodies of compute_inline stages are substituted into their readers;
2. bound inference: walking consumers before producers, a stage computed at (S, loop) gets
   the region of its tensor that S reads inside that loop (te_bounds' interval analysis over
   S's inner loops; a region that cannot be bounded to a constant size is the whole tensor),
   united with what its other readers read, which must be computed at that same loop (then
   it is computed once there, before them: softmax's row max, read by two row stages);
3. loop nests: each stage's leaf loops in order, split/fuse relations giving the original
   axes (`parent = outer * factor + inner`, `outer = fused // n`, `inner = fused % n`),
   guards where a split does not divide or a region runs off the tensor, each guard placed
   at the loop binding its innermost variable;
4. reductions become init + update: loops before the first reduce loop are shared, the init
   runs over the data loops after it, the update over all of them;
5. storage: args are the kernel's params; a stage computed at a loop gets a local buffer of
   its region there; other intermediates are allocated for the whole kernel (local when small,
   "global" scratch on the heap otherwise).

GPU schedules (loops bound to blockIdx/threadIdx): a stage computed at a loop is "shared"
when cache_read made it so or when its own loops bind threadIdx (its threads write parts of
one tile that others read), else per-thread "local". A shared stage's region is what all the
block's threads read at that loop (the readers' thread loops are relaxed) and is never
widened to the whole tensor (its edge tiles load under guards instead); its nest runs
between two barriers (the one before keeps a loop's next load from overwriting a tile still
being read):

    for ko in serial(0, ceil(K/BK)):           # the reader's loop it is computed at
      AS = allocate(float32, [BM, BK], shared)
      barrier()
      for f.o in serial(..): for t in threadIdx.x(0, T): AS[...] = A[...]   # cooperative
      barrier()
      <the reader's loops inside ko, reading AS>
"""

from __future__ import annotations

import dataclasses
import functools

from . import te_bounds, tir
from .schedule import Schedule, Split, Stage
from .te import REDUCE, IterVar, IfThenElse, PlaceholderOp, Reduce, Tensor, TEError, TensorRead, combine, identity
from .tir_simplify import simplify

LOCAL_BYTES = 64 * 1024  # root intermediates up to this size live on the stack


class _Lowering:
    def __init__(self, sched: Schedule, args, name: str, target=None):
        self.sched, self.name = sched, name
        _check_target(sched, target)
        self.bodies, self.info, self.region = {}, {}, {}
        for st in sched.stages:
            self.bodies[st] = self._inline(st.op.body)
        self.live = [s for s in sched.stages if s.attach[0] != "inline"]
        self.reads = {st: [n for n in tir.walk(self.bodies[st]) if isinstance(n, TensorRead)]
                      for st in self.live}
        self._make_params(args)
        for st in reversed(self.live):
            self._infer_region(st)
        self._make_buffers()
        self.attached = {}
        for st in self.live:
            if st.attach[0] == "at":
                self.attached.setdefault((st.attach[1], st.attach[2]), []).append(st)

    # ------------------------------------------------------------ setup
    def _stage(self, t: Tensor):
        return self.sched._by_tensor.get(t)

    def _inline(self, body):
        def fn(n):
            if isinstance(n, TensorRead):
                st = self._stage(n.tensor)
                if st is not None and st.attach[0] == "inline":
                    return tir.substitute(self.bodies[st], dict(zip(st.op.axis, n.indices)))
            return None
        return tir.rewrite(body, fn)

    def _make_params(self, args):
        self.buffers, self.params = {}, []
        for t in args:
            if not isinstance(t, Tensor):
                raise TEError(f"lower: args must be tensors, got {t!r}")
            st = self._stage(t)
            if st is not None and st.attach[0] != "root":
                raise TEError(f"lower: {t.name} is an argument but its stage is "
                              f"{st.attach[0]}; arguments are computed at root")
            buf = tir.Buffer(t.name, t.dtype, t.shape)
            self.buffers[t] = buf
            self.params.append(buf)
        for t in self.sched.outputs:
            if t not in self.buffers:
                raise TEError(f"lower: output {t.name} must be in args")
        for st in self.live:
            for r in self.reads[st]:
                if isinstance(r.tensor.op, PlaceholderOp) and r.tensor not in self.buffers:
                    raise TEError(f"lower: placeholder {r.tensor.name} (read by {st.name}) "
                                  "must be in args")

    def scope(self, st: Stage) -> str:
        """Where a stage computed at a loop lives: "shared" (cache_read's scope, or its own
        loops bind threadIdx) or "local" (per thread)."""
        if st.scope == "shared" or any(k in tir.THREAD_KINDS for k in st.kinds.values()):
            return "shared"
        return "local"

    def _make_buffers(self):
        self.scratch = []
        for st in self.live:
            if st.tensor in self.buffers:
                continue
            t = st.tensor
            if st.attach[0] == "at":
                shape = tuple(ext for _, ext in self.region[st])
                self.buffers[t] = tir.Buffer(st.name, t.dtype, shape, scope=self.scope(st))
            else:
                buf = tir.Buffer(st.name, t.dtype, t.shape)
                small = buf.size * tir.bits(t.dtype) // 8 <= LOCAL_BYTES
                self.buffers[t] = tir.Buffer(st.name, t.dtype, t.shape,
                                             scope="local" if small else "global")
                self.scratch.append(self.buffers[t])

    # ------------------------------------------------------------ iteration domain
    def iter_info(self, st: Stage):
        """(values, extents, leaf values, guards): root axis -> expression of the leaf
        loop vars, iter var -> extent, split var -> expression, the conditions a point must
        meet (uneven splits)."""
        if st in self.info:
            return self.info[st]
        ext, guards = {}, []
        for a, (_, e) in zip(st.op.axis, self.region[st]):
            ext[a] = e
        for r in st.op.reduce_axis:
            ext[r] = r.extent
        for rel in st.relations:
            if isinstance(rel, Split):
                e = ext[rel.parent]
                inner = rel.factor if rel.factor is not None else -(-e // rel.nparts)
                ext[rel.inner], ext[rel.outer] = inner, -(-e // inner)
            else:
                ext[rel.fused] = ext[rel.outer] * ext[rel.inner]
        val = {v: v for v in st.leaf_iter_vars}
        for rel in reversed(st.relations):
            if isinstance(rel, Split):
                val[rel.parent] = val[rel.outer] * ext[rel.inner] + val[rel.inner]
                if ext[rel.outer] * ext[rel.inner] != ext[rel.parent]:
                    guards.append(val[rel.parent] < ext[rel.parent])
            else:
                n = ext[rel.inner]
                val[rel.outer], val[rel.inner] = val[rel.fused] // n, val[rel.fused] % n
        values = {a: lo + val[a] for a, (lo, _) in zip(st.op.axis, self.region[st])}
        for r in st.op.reduce_axis:
            values[r] = val[r] + r.dom[0]
        self.info[st] = (values, ext, val, guards)
        return self.info[st]

    def clip(self, st: Stage):
        """(conditions, fast-path test) keeping a region that runs off the tensor inside it,
        or None (no region, or one whose reads stay in bounds anyway)."""
        values, ext, _, _ = self.iter_info(st)
        clip, whole = [], []
        for d, (a, (lo, e)) in enumerate(zip(st.op.axis, self.region[st])):
            if e != st.tensor.shape[d]:  # a region: clip to the tensor
                clip += [values[a] < st.tensor.shape[d], values[a] >= 0]
                whole += [lo + e <= st.tensor.shape[d], lo >= 0]
        if not clip or self._reads_in_bounds(st, values, ext):
            return None  # computing a few points past the edge is harmless
        return clip, functools.reduce(lambda x, y: x & y, whole)

    def _reads_in_bounds(self, st: Stage, values: dict, ext: dict) -> bool:
        """Do all of st's reads stay inside their tensors for every iteration of its loops
        and of the loops it is computed in, edge tiles included?"""
        ranges, p = {}, st
        while True:
            e = ext if p is st else self.iter_info(p)[1]
            ranges.update({v: (tir.Const(0), tir.Const(e[v] - 1)) for v in p.leaf_iter_vars})
            if p.attach[0] != "at":
                break
            p = p.attach[1]
        for r in self.reads[st]:
            tile = self._shared_tile(r.tensor)
            for d, (idx, dim) in enumerate(zip(r.indices, r.tensor.shape)):
                idx = tir.substitute(idx, values)
                if tile is not None:  # an index into the tile, which is not clipped
                    idx = te_bounds.to_expr(te_bounds.linear(simplify(idx - tile[d][0])))
                    dim = tile[d][1]
                iv = te_bounds.interval(idx, ranges)
                lo, hi = (None, None) if iv is None else map(te_bounds.constant, iv)
                if lo is None or hi is None or lo < 0 or hi >= dim:
                    return False
        return True

    def _shared_tile(self, t: Tensor):
        """The region of a tensor staged in shared memory at a loop, else None."""
        st = self._stage(t)
        if st is None or st.attach[0] != "at" or self.scope(st) != "shared":
            return None
        return self.region[st]

    def _infer_region(self, st: Stage):
        shape = st.tensor.shape
        if st.attach[0] != "at":
            self.region[st] = [(tir.Const(0), d) for d in shape]
            return
        _, parent, at = st.attach
        readers = [c for c in self.live if any(r.tensor is st.tensor for r in self.reads[c])]
        if not readers or any(c is not parent and c.attach != st.attach for c in readers):
            raise TEError(f"compute_at: {st.name} is computed at {parent.name}.{at.name} but "
                          f"read by {[c.name for c in readers] or 'no stage'}; each reader "
                          f"must be {parent.name} or be computed at the same loop")
        dims, full = [None] * len(shape), [False] * len(shape)
        shared = self.scope(st) == "shared"
        for c in readers:
            for d, iv in self._read_intervals(c, st, at if c is parent else None, shared):
                if iv is None:
                    full[d] = True
                else:
                    dims[d] = iv if dims[d] is None else te_bounds.union(dims[d], iv)
        region = []
        for d, iv in enumerate(dims):
            span = None if full[d] else te_bounds.constant(te_bounds.add(iv[1], iv[0], -1))
            if span is None or (span + 1 >= shape[d] and not shared):
                region.append((tir.Const(0), shape[d]))
            else:
                lo = te_bounds.to_expr(iv[0])
                region.append((simplify(lo), span + 1))
        self.region[st] = region

    def _read_intervals(self, reader: Stage, st: Stage, at, relax_threads: bool = False):
        """(dim, interval or None when unbounded) of each index of each read of st by
        `reader`, over reader's loops inside `at` (all of them when at is None: a reader
        computed at the same loop as st), and with `relax_threads` over every thread loop
        around the reader too (what the whole block reads)."""
        values, ext, _, _ = self.iter_info(reader)
        leaves = reader.leaf_iter_vars
        inner = leaves[leaves.index(at) + 1:] if at is not None else leaves
        ranges = {v: (tir.Const(0), tir.Const(ext[v] - 1)) for v in inner}
        p = reader
        while relax_threads:
            e = self.iter_info(p)[1]
            ranges.update({v: (tir.Const(0), tir.Const(e[v] - 1)) for v in p.leaf_iter_vars
                           if p.kinds.get(v) in tir.THREAD_KINDS})
            if p.attach[0] != "at":
                break
            p = p.attach[1]
        for r in self.reads[reader]:
            if r.tensor is st.tensor:
                for d, idx in enumerate(r.indices):
                    yield d, te_bounds.interval(tir.substitute(idx, values), ranges)

    # ------------------------------------------------------------ expressions
    def translate(self, e, guard=None):
        """TE expression -> loop IR: tensor reads become loads of their buffers."""
        if isinstance(e, TensorRead):
            idx = tuple(self.translate(i, guard) for i in e.indices)
            st = self._stage(e.tensor)
            if st is not None and st.attach[0] == "at":
                idx = tuple(i - lo for i, (lo, _) in zip(idx, self.region[st]))
            flat = self.buffers[e.tensor].flat_index(idx)
            if guard is not None:
                flat = tir.Select(guard, flat, tir.Const(0, flat.dtype))
            return tir.Load(self.buffers[e.tensor], flat)
        if isinstance(e, IfThenElse):
            c = self.translate(e.cond, guard)
            both = lambda x: x if guard is None else guard & x
            return tir.Select(c, self.translate(e.t, both(c)),
                              self.translate(e.f, both(c.eq(tir.Const(False, "bool")))))
        if isinstance(e, Reduce):
            raise TEError("internal: Reduce reached translate")
        return tir.map_children(e, lambda c: self.translate(c, guard))

    # ------------------------------------------------------------ statements
    def _nest(self, st, leaves, inner, guards, ext, kinds=None):
        """For loops over `leaves` around `inner`, guards and attached stages in place. When
        an attached stage synchronizes the block (barriers), every guard wraps `inner` alone:
        all threads must reach the barriers, so none may skip the producers."""
        produced = {}
        for p, v in enumerate(leaves if st is not None else ()):
            for prod in self.attached.get((st, v), []):
                buf, load = self.buffers[prod.tensor], self.emit(prod)
                if buf.scope == "shared":
                    load = tir.seq(tir.Barrier(), load, tir.Barrier())
                produced.setdefault(p, []).append((buf, load))
        synced = any(isinstance(n, tir.Barrier) for loads in produced.values()
                     for _, load in loads for n in tir.walk(load))
        pos = lambda g: len(leaves) if synced else \
            max([leaves.index(v) for v in tir.free_vars(g) if v in leaves], default=-1)
        at = {}
        for g in guards:
            at.setdefault(pos(g), []).append(g)
        stmt = inner
        for p in range(len(leaves), -2, -1):
            for buf, load in reversed(produced.get(p, [])):
                stmt = tir.Allocate(buf, tir.seq(load, stmt))
            if at.get(p):
                cond = at[p][0]
                for g in at[p][1:]:
                    cond = cond & g
                stmt = tir.IfThenElse(cond, stmt)
            if 0 <= p < len(leaves):
                v = leaves[p]
                stmt = tir.For(v, 0, ext[v], (st.kinds if kinds is None else kinds).get(v, tir.SERIAL), stmt)
        return stmt

    def _synchronizes(self, st: Stage) -> bool:
        """Does a stage computed inside st's loops (at any depth) live in shared memory?"""
        return any(self.scope(p) == "shared" or self._synchronizes(p)
                   for (parent, _), attached in self.attached.items() if parent is st
                   for p in attached)

    def emit(self, st: Stage) -> tir.Stmt:
        """st's loop nest; a region that may run off the tensor gets two versions (loop
        partitioning): unguarded for the whole tiles, guarded for the edge ones."""
        values, ext, val, guards = self.iter_info(st)
        clip = self.clip(st)
        if clip is None:
            return self._emit(st, values, ext, val, guards)
        if self._synchronizes(st):  # one version: no thread may take a branch without barriers
            return self._emit(st, values, ext, val, guards + clip[0])
        return tir.IfThenElse(clip[1], self._emit(st, values, ext, val, guards),
                              self._emit(st, values, ext, val, guards + clip[0]))

    def _emit(self, st, values, ext, val, guards) -> tir.Stmt:
        buf = self.buffers[st.tensor]
        local = st.attach[0] == "at"
        index = tuple(val[a] if local else values[a] for a in st.op.axis)
        body = tir.substitute(self.bodies[st], values)
        leaves = st.leaf_iter_vars
        if not isinstance(body, Reduce):
            return self._nest(st, leaves, buf.store(index, self.translate(body)), guards, ext)
        first = next(k for k, v in enumerate(leaves) if v.kind == REDUCE)
        outer, inner = leaves[:first], leaves[first:]
        reduce_vars = {v for v in st.all_iter_vars if v.kind == REDUCE}
        out_guards = [g for g in guards if not any(v in inner for v in tir.free_vars(g))]
        in_guards = [g for g in guards if g not in out_guards]
        # init over the data loops inside the first reduce loop, with fresh loop vars
        data = [v for v in inner if v.kind != REDUCE]
        fresh = {v: type(v)(v.name, v.dtype, v.dom, v.kind) for v in data}
        init_guards = [tir.substitute(g, fresh) for g in in_guards
                       if not any(v in reduce_vars for v in tir.free_vars(g))]
        init = body.init if body.init is not None else identity(body.combiner, body.dtype)
        init_store = tir.substitute(buf.store(index, self.translate(init)), fresh)
        init_ext = {fresh[v]: ext[v] for v in data}
        init_kinds = {fresh[v]: k for v, k in st.kinds.items() if v in fresh}
        init_nest = self._nest(None, [fresh[v] for v in data], init_store, init_guards,
                               init_ext, init_kinds)
        acc = tir.Load(buf, buf.flat_index(index))
        update = combine(body.combiner, acc, self.translate(body.source))
        update_nest = self._nest(st, inner, buf.store(index, update), in_guards, ext)
        return self._nest(st, outer, tir.seq(init_nest, update_nest), out_guards, ext)

    def run(self) -> tir.PrimFunc:
        body = tir.seq(*(self.emit(st) for st in self.live if st.attach[0] == "root"))
        for buf in reversed(self.scratch):
            body = tir.Allocate(buf, body)
        plain = {v: tir.Var(v.name, v.dtype) for v in tir.walk(body) if isinstance(v, IterVar)}
        func = simplify(tir.PrimFunc(self.name, self.params, tir.substitute(body, plain)))
        return simplify(func.with_body(tir.rewrite(func.body, _tidy)))


def _tidy(n):
    """Indices as canonical sums (so `(io*6 + ii) - io*6` is `ii`); `c && true` is `c`."""
    if isinstance(n, (tir.Load, tir.Store)) and tir.is_int(n.index.dtype) \
            and tir.lanes(n.index.dtype) == 1:
        index = te_bounds.to_expr(te_bounds.linear(n.index))
        return None if index == n.index else dataclasses.replace(n, index=index)
    if isinstance(n, tir.Binary) and n.op == "and":
        for x, y in ((n.a, n.b), (n.b, n.a)):
            if isinstance(y, tir.Const) and y.value is True:
                return x
    return None


def _check_target(sched: Schedule, target):
    """Loops bound to blockIdx/threadIdx only make sense on a GPU target."""
    if target is None or tir.target_kind(target) == "cuda":
        return
    for st in sched.stages:
        bound = [(v.name, k) for v, k in st.kinds.items() if k in tir.GPU_LOOP_KINDS]
        if bound:
            raise TEError(f"stage {st.name} binds {bound[0][0]} to {bound[0][1]}, but target "
                          f"'{target}' is a CPU: bind is for GPU (cuda) targets")


def lower(sched: Schedule, args, name: str = "main", target=None) -> tir.PrimFunc:
    """The loop IR of `sched`; `args` (placeholders and outputs) become params in order.
    `target` (a Target or its text), when given, is checked against the loop kinds."""
    return _Lowering(sched, list(args), name, target).run()
