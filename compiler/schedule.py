"""Schedules (TVM/Halide primitives): how the loops of each compute stage run.

A Schedule holds one Stage per compute op reachable from its outputs, producers first. A
stage starts with one loop per axis (data axes, then reduce axes) and primitives rewrite its
loop nest:

    s = te.create_schedule([C])              for i in (0, M): for j in (0, N): for k ...
    io, ii = s[C].split(C.axis[0], factor=6) for i.outer in (0, ceil(M/6)):
                                               for i.inner in (0, 6): (guarded i < M) ...
    s[C].reorder(io, C.axis[1], ii)          loop order i.outer, j, i.inner, k
    s[C].vectorize(ji) / unroll / parallel   loop kinds (vectorize/parallel: data axes only)
    CL = s.cache_write(C, "local")           CL computes C's body into a local tile; C copies
    s[CL].compute_at(s[C], jo)               CL's loops run inside C's jo loop, over the region
                                             C's inner loops read (bound inference, te_lower)
    s[P].compute_inline()                    P's expression is substituted into its readers
    s[C].bind(io, "blockIdx.x")              GPU: loop io is the block index (threadIdx.x/y/z:
                                             the thread index; a schedule for a CPU refuses)
    AS = s.cache_read(A, "shared", [CL])     AS copies A; CL reads AS instead of A. Computed
    s[AS].compute_at(s[CL], ko)              at CL's ko loop: the tile of A that the whole
                                             block reads there (thread loops relaxed), staged
                                             in shared memory between two barriers; its loops
                                             bound to threadIdx split the load over the block

Every primitive call is recorded in `s.steps` as a plain tuple of names and numbers,
e.g. ("split", "C", "i", 6) or ("compute_at", "C.local", "C", "j.outer"), and
`Schedule.apply(steps)` replays such a list on a fresh schedule of the same expressions, so a
tuning record reproduces a schedule exactly. Illegal requests raise TEError at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import tir
from .te import DATA, REDUCE, ComputeOp, IterVar, PlaceholderOp, Reduce, Tensor, TEError, TensorRead


ONLY_DATA_AXES = frozenset({tir.VECTORIZED, tir.PARALLEL}) | tir.GPU_LOOP_KINDS


@dataclass(frozen=True)
class Split:
    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int | None
    nparts: int | None


@dataclass(frozen=True)
class Fuse:
    outer: IterVar
    inner: IterVar
    fused: IterVar


def _step(fn):
    """Record the call in schedule.steps (outermost primitive only) with names for objects."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        sched = self if isinstance(self, Schedule) else self.schedule
        sched._depth += 1
        try:
            out = fn(self, *args, **kwargs)
        finally:
            sched._depth -= 1
        if sched._depth == 0:
            head = () if isinstance(self, Schedule) else (self.name,)
            named = tuple(_name_of(a) for a in args) + tuple(_name_of(v) for v in kwargs.values())
            if fn.__name__ == "split" and "nparts" in kwargs:
                named = (named[0], None, _name_of(kwargs["nparts"]))
            sched.steps.append((fn.__name__,) + head + named)
        return out
    return wrapper


def _name_of(x):
    if isinstance(x, (Stage, Tensor, IterVar)):
        return x.name
    if isinstance(x, (list, tuple)):
        return tuple(_name_of(y) for y in x)
    return x


class Stage:
    """The loop nest of one compute op: leaf loops in order, their kinds and where it runs."""

    def __init__(self, schedule: "Schedule", tensor: Tensor, name: str):
        self.schedule, self.tensor, self.name = schedule, tensor, name
        self.op = tensor.op  # cache_write replaces this with the copy-out op
        self.leaf_iter_vars = list(self.op.axis) + list(self.op.reduce_axis)
        self.relations: list = []
        self.kinds: dict = {}
        self.attach: tuple = ("root",)  # ("root",) | ("inline",) | ("at", stage, ivar)
        self.scope = "global"

    def __repr__(self) -> str:
        loops = ", ".join(f"{v.name}:{self.kinds.get(v, tir.SERIAL)}" for v in self.leaf_iter_vars)
        where = {"root": "", "inline": " inline"}.get(self.attach[0]) or \
            f" at {self.attach[1].name}.{self.attach[2].name}"
        return f"Stage({self.name}{where}: {loops})"

    # ------------------------------------------------------------ helpers
    @property
    def all_iter_vars(self) -> list:
        out = list(self.op.axis) + list(self.op.reduce_axis)
        for r in self.relations:
            out += [r.outer, r.inner] if isinstance(r, Split) else [r.fused]
        return out

    def iter_var(self, name: str) -> IterVar:
        for v in self.all_iter_vars:
            if v.name == name:
                return v
        raise TEError(f"stage {self.name} has no axis named {name!r}; axes: "
                      f"{[v.name for v in self.all_iter_vars]}")

    def _leaf(self, ivar, what: str) -> IterVar:
        if not isinstance(ivar, IterVar):
            raise TEError(f"{what} on stage {self.name}: expected an axis (IterVar), got {ivar!r}")
        if ivar in self.leaf_iter_vars:
            return ivar
        if ivar in self.all_iter_vars:
            raise TEError(f"{what} on stage {self.name}: axis {ivar.name} was already split or "
                          "fused; use the axes that returned")
        owner = next((s.name for s in self.schedule.stages if ivar in s.all_iter_vars), None)
        where = f"belongs to stage {owner}" if owner else "is not an axis of this schedule"
        raise TEError(f"{what} on stage {self.name}: axis {ivar.name} {where}")

    def _new(self, name: str, extent: int, kind: str) -> IterVar:
        return IterVar(name, tir.INDEX, (0, extent), kind)

    def _move_attachments(self, old: list, new: IterVar):
        """Stages computed at a loop that is split or fused follow it to `new` (the inner part
        of a split, the fused loop): per iteration they cover the same consumer points."""
        for st in self.schedule.stages:
            if st.attach[0] == "at" and st.attach[1] is self and st.attach[2] in old:
                st.attach = ("at", self, new)

    def _check_not_inline(self, what):
        if self.attach[0] == "inline":
            raise TEError(f"{what}: stage {self.name} is inlined and has no loops")

    # ------------------------------------------------------------ loop primitives
    @_step
    def split(self, axis: IterVar, factor: int | None = None, nparts: int | None = None):
        """axis -> (outer, inner) with inner extent `factor` (or outer extent `nparts`);
        a factor that does not divide the extent leaves a guarded tail."""
        self._check_not_inline("split")
        axis = self._leaf(axis, "split")
        if (factor is None) == (nparts is None):
            raise TEError(f"split {self.name}.{axis.name}: give exactly one of factor, nparts")
        n = factor if factor is not None else nparts
        if not isinstance(n, int) or n < 1:
            raise TEError(f"split {self.name}.{axis.name}: factor/nparts must be a positive int, "
                          f"got {n!r}")
        ext = axis.extent
        inner_ext = factor if factor is not None else -(-ext // nparts)
        outer_ext = -(-ext // inner_ext)
        outer = self._new(axis.name + ".outer", outer_ext, axis.kind)
        inner = self._new(axis.name + ".inner", inner_ext, axis.kind)
        self.relations.append(Split(axis, outer, inner, factor, nparts))
        k = self.leaf_iter_vars.index(axis)
        self.leaf_iter_vars[k:k + 1] = [outer, inner]
        self._move_attachments([axis], inner)
        return outer, inner

    @_step
    def tile(self, x: IterVar, y: IterVar, x_factor: int, y_factor: int):
        """split x and y, order (x.outer, y.outer, x.inner, y.inner)."""
        xo, xi = self.split(x, x_factor)
        yo, yi = self.split(y, y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    @_step
    def fuse(self, *axes: IterVar) -> IterVar:
        """Adjacent loops (outer first) -> one loop over the product of their extents."""
        self._check_not_inline("fuse")
        if len(axes) < 2:
            raise TEError(f"fuse on stage {self.name}: needs at least two axes")
        axes = [self._leaf(a, "fuse") for a in axes]
        kinds = {a.kind for a in axes}
        if len(kinds) > 1:
            raise TEError(f"fuse on stage {self.name}: cannot fuse data axes with reduce axes "
                          f"({', '.join(a.name for a in axes)})")
        pos = [self.leaf_iter_vars.index(a) for a in axes]
        if pos != list(range(pos[0], pos[0] + len(pos))):
            raise TEError(f"fuse on stage {self.name}: axes {[a.name for a in axes]} are not "
                          f"adjacent loops in order; loop order is "
                          f"{[v.name for v in self.leaf_iter_vars]}")
        fused = axes[0]
        for inner in axes[1:]:
            new = self._new(f"{fused.name}.{inner.name}.fused", fused.extent * inner.extent,
                            fused.kind)
            self.relations.append(Fuse(fused, inner, new))
            fused = new
        self.leaf_iter_vars[pos[0]:pos[-1] + 1] = [fused]
        self._move_attachments(axes, fused)
        return fused

    @_step
    def reorder(self, *axes: IterVar) -> None:
        """The given loops take the places they occupy, in the order given."""
        self._check_not_inline("reorder")
        axes = [self._leaf(a, "reorder") for a in axes]
        if len(set(axes)) != len(axes):
            raise TEError(f"reorder on stage {self.name}: an axis is repeated")
        slots = sorted(self.leaf_iter_vars.index(a) for a in axes)
        for slot, a in zip(slots, axes):
            self.leaf_iter_vars[slot] = a

    def _kind(self, axis, kind, what):
        self._check_not_inline(what)
        axis = self._leaf(axis, what)
        if kind in ONLY_DATA_AXES and axis.kind == REDUCE:
            raise TEError(f"{what} on stage {self.name}: {axis.name} is a reduce axis; its "
                          "iterations depend on each other (only data axes may be "
                          f"{kind})")
        self.kinds[axis] = kind

    @_step
    def vectorize(self, axis: IterVar) -> None:
        self._kind(axis, tir.VECTORIZED, "vectorize")

    @_step
    def unroll(self, axis: IterVar) -> None:
        self._kind(axis, tir.UNROLLED, "unroll")

    @_step
    def parallel(self, axis: IterVar) -> None:
        self._kind(axis, tir.PARALLEL, "parallel")

    @_step
    def bind(self, axis: IterVar, thread: str) -> None:
        """Run loop `axis` as a GPU index: "blockIdx.x|y|z" (one block per iteration) or
        "threadIdx.x|y|z" (one thread per iteration). A reduce axis cannot be bound (its
        iterations accumulate into one value: reduce partials in a stage of their own)."""
        if thread not in tir.GPU_LOOP_KINDS:
            raise TEError(f"bind on stage {self.name}: unknown GPU index {thread!r}; expected "
                          f"one of {sorted(tir.GPU_LOOP_KINDS)}")
        taken = [v.name for v, k in self.kinds.items() if k == thread and v is not axis]
        if taken:
            raise TEError(f"bind on stage {self.name}: {thread} is already bound to {taken[0]}")
        self._kind(axis, thread, "bind")

    # ------------------------------------------------------------ placement
    @_step
    def compute_at(self, parent: "Stage", axis: IterVar) -> None:
        """Compute this stage inside `parent`'s loop `axis`, only the region it reads there."""
        if not isinstance(parent, Stage):
            parent = self.schedule[parent]
        if parent is self:
            raise TEError(f"compute_at: stage {self.name} cannot be computed at itself")
        if self.tensor in self.schedule.outputs:
            raise TEError(f"compute_at: {self.name} is an output of the schedule; outputs are "
                          "computed at root")
        parent._leaf(axis, "compute_at")
        if parent.attach[0] == "inline":
            raise TEError(f"compute_at: stage {parent.name} is inlined")
        if self not in self.schedule.producers_of(parent, through_inline=True):
            raise TEError(f"compute_at: stage {parent.name} does not read {self.name}; a stage "
                          "can only be computed inside a consumer")
        p = parent
        while p.attach[0] == "at":
            p = p.attach[1]
            if p is self:
                raise TEError(f"compute_at: {self.name} -> {parent.name} makes a cycle")
        self.attach = ("at", parent, axis)

    @_step
    def compute_inline(self) -> None:
        """Substitute this injective stage's expression into every reader."""
        if isinstance(self.op.body, Reduce):
            raise TEError(f"compute_inline: {self.name} is a reduction; only injective stages "
                          "(no reduce axes) can be inlined")
        if self.tensor in self.schedule.outputs:
            raise TEError(f"compute_inline: {self.name} is an output of the schedule")
        if self.relations or self.kinds:
            raise TEError(f"compute_inline: stage {self.name} already has loop transformations")
        if any(s.attach[0] == "at" and s.attach[1] is self for s in self.schedule.stages):
            raise TEError(f"compute_inline: other stages are computed at {self.name}")
        self.attach = ("inline",)

    @_step
    def compute_root(self) -> None:
        self.attach = ("root",)


class Schedule:
    """Stages of every compute op reachable from `outputs`, producers first."""

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.steps: list = []
        self._depth = 0
        self.stages: list[Stage] = []
        self._by_tensor: dict = {}
        order, seen = [], set()

        def visit(t):
            if t in seen:
                return
            seen.add(t)
            for inp in t.op.input_tensors():
                visit(inp)
            if isinstance(t.op, ComputeOp):
                order.append(t)

        for t in self.outputs:
            if not isinstance(t, Tensor) or isinstance(t.op, PlaceholderOp):
                raise TEError(f"create_schedule: outputs must be compute tensors, got {t!r}")
            visit(t)
        for t in order:
            self._add(Stage(self, t, self._unique(t.name)), len(self.stages))

    def _unique(self, name: str) -> str:
        names, k, out = {s.name for s in self.stages}, 1, name
        while out in names:
            out, k = f"{name}.{k}", k + 1
        return out

    def _add(self, stage: Stage, at: int):
        self.stages.insert(at, stage)
        self._by_tensor[stage.tensor] = stage

    def __getitem__(self, key) -> Stage:
        if isinstance(key, Stage):
            return key
        if isinstance(key, str):
            for s in self.stages:
                if s.name == key:
                    return s
            raise TEError(f"schedule has no stage {key!r}; stages: {[s.name for s in self.stages]}")
        if key in self._by_tensor:
            return self._by_tensor[key]
        raise TEError(f"{key!r} has no stage in this schedule (placeholder, or not reachable "
                      "from the outputs)")

    def producers_of(self, stage: Stage, through_inline: bool = False) -> list:
        """Stages whose outputs `stage` reads (looking through inlined ones when asked)."""
        out, todo = [], [stage]
        while todo:
            for t in todo.pop().op.input_tensors():
                if t in self._by_tensor:
                    p = self._by_tensor[t]
                    if p not in out:
                        out.append(p)
                        if through_inline:
                            todo.append(p)
        return out

    @_step
    def cache_write(self, tensor: Tensor, scope: str = "local") -> Tensor:
        """A new stage `<name>.<scope>` computes `tensor`'s body (reduction included); the
        original stage now copies from it. Must come before other primitives on that stage."""
        stage = self[tensor]
        if stage.relations or stage.kinds or stage.attach != ("root",):
            raise TEError(f"cache_write: stage {stage.name} is already scheduled; cache_write first")
        if stage.op is not tensor.op:
            raise TEError(f"cache_write: {stage.name} already has a cache")
        op = stage.op
        mapping = {a: IterVar(a.name + ".c", tir.INDEX, a.dom, DATA) for a in op.axis}
        mapping.update({r: IterVar(r.name, tir.INDEX, r.dom, REDUCE) for r in op.reduce_axis})
        body = tir.substitute(op.body, mapping)
        cache = Tensor(ComputeOp(f"{op.name}.{scope}", [mapping[a] for a in op.axis], body,
                                 op.tag, op.attrs))
        copy = ComputeOp(op.name, op.axis, TensorRead(cache, tuple(op.axis)), op.tag, op.attrs)
        stage.op = copy
        stage.leaf_iter_vars = list(copy.axis)
        cstage = Stage(self, cache, self._unique(cache.name))
        cstage.scope = scope
        self._add(cstage, self.stages.index(stage))
        return cache

    @_step
    def cache_read(self, tensor: Tensor, scope: str, readers) -> Tensor:
        """A new stage `<name>.<scope>` copies `tensor` (a placeholder or a stage); the
        `readers` (stages or tensors) read the copy instead. compute_at then places it at a
        reader's loop with the region read there; scope "shared" makes that region a block's
        shared-memory tile (te_lower: thread loops relaxed, barriers around the load)."""
        if scope not in ("shared", "local"):
            raise TEError(f"cache_read {tensor.name}: scope must be 'shared' or 'local', "
                          f"got {scope!r}")
        stages = [self[r] for r in readers]
        if not stages:
            raise TEError(f"cache_read {tensor.name}: give the stages that read the copy")
        axes = tuple(IterVar(f"ax{d}", tir.INDEX, (0, n), DATA) for d, n in enumerate(tensor.shape))
        cache = Tensor(ComputeOp(f"{tensor.name}.{scope}", axes, TensorRead(tensor, axes),
                                 "cache_read"))
        for st in stages:
            if tensor not in st.op.input_tensors():
                raise TEError(f"cache_read: stage {st.name} does not read {tensor.name} "
                              f"(it reads {[t.name for t in st.op.input_tensors()]})")
            body = tir.rewrite(st.op.body, lambda n: TensorRead(cache, n.indices)
                               if isinstance(n, TensorRead) and n.tensor is tensor else None)
            st.op = ComputeOp(st.op.name, st.op.axis, body, st.op.tag, st.op.attrs)
        cstage = Stage(self, cache, self._unique(cache.name))
        cstage.scope = scope
        self._add(cstage, min(self.stages.index(st) for st in stages))
        return cache

    def tensor_named(self, name: str) -> Tensor:
        """A stage's tensor or a placeholder reachable from the outputs, by name."""
        for st in self.stages:
            if st.name == name:
                return st.tensor
            for t in st.op.input_tensors():
                if t.name == name and isinstance(t.op, PlaceholderOp):
                    return t
        raise TEError(f"schedule has no tensor {name!r}")

    def apply(self, steps) -> "Schedule":
        """Replay recorded steps (names resolved in this schedule); returns self."""
        for step in steps:
            kind, args = step[0], list(step[1:])
            if kind == "cache_write":
                self.cache_write(self[args[0]].tensor, *args[1:])
                continue
            if kind == "cache_read":
                self.cache_read(self.tensor_named(args[0]), args[1], [self[r] for r in args[2]])
                continue
            stage = self[args.pop(0)]
            if kind == "compute_at":
                parent = self[args[0]]
                stage.compute_at(parent, parent.iter_var(args[1]))
                continue
            if not hasattr(Stage, kind) or kind.startswith("_"):
                raise TEError(f"unknown schedule step {step!r}")
            nvars = {"split": 1, "tile": 2, "vectorize": 1, "unroll": 1, "parallel": 1,
                     "bind": 1, "fuse": len(args), "reorder": len(args)}.get(kind, 0)
            args[:nvars] = [stage.iter_var(a) for a in args[:nvars]]
            getattr(stage, kind)(*args)
        return self


def create_schedule(outputs) -> Schedule:
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return Schedule(outputs)
