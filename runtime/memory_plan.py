"""Static memory planning: give every intermediate tensor a byte offset in one arena.

Input: an ordered list of kernel `Step`s, each naming the tensors it reads and writes (any
hashable ids), the byte size of every tensor, and the tensors that live outside the arena
(graph inputs, graph outputs, weights). A step may also declare in-place capabilities,
`(out, inp)` pairs: its kernel can write `out` over `inp` (an elementwise kernel).

    lifetimes   tensor t lives over the closed step interval [first write, last read]; all
                tensors a step reads and writes are live together during that step.
    in place    (out, inp) is applied when inp is in the arena, dies at this step (no later
                reads), is not already taken by another output, and out is not larger. out and
                inp then form one buffer at one offset; chains (a -> b -> c) merge too.
    offsets     buffers are placed by best fit among the buffers whose lifetimes overlap,
                visiting them greedy-by-size or greedy-by-breadth (Pisarchyk & Lee, "Efficient
                Memory Management for Deep Neural Net Inference", 2020, as in TFLite), with and
                without in-place merging; the smallest arena wins. Sizes round up to
                `alignment` (64 bytes), so every offset is aligned.
    bounds      naive = sum of intermediate sizes (no sharing); lower bound = the most bytes
                live at any one step (in-place pairs counted once), which no plan can beat.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Mapping, Sequence

from ..compiler.aligned import round_up
from ..compiler.errors import TensorForgeError

Tensor = Hashable


class MemoryPlanError(TensorForgeError):
    """The step list is malformed, or a plan breaks an invariant (found by `verify`)."""


@dataclass(frozen=True)
class Step:
    """One kernel call: the tensors it reads and writes, and (out, inp) pairs it may run in
    place (out written over inp's bytes)."""

    name: str
    reads: tuple[Tensor, ...]
    writes: tuple[Tensor, ...]
    inplace: tuple[tuple[Tensor, Tensor], ...] = ()


@dataclass(frozen=True)
class _Buffer:
    """One arena allocation: tensors sharing one offset (several only through in-place)."""

    members: tuple[Tensor, ...]
    size: int          # aligned
    start: int
    end: int


@dataclass(eq=False)
class MemoryPlan:
    """The result of `plan_memory`: where each arena tensor lives, and how good that is."""

    steps: tuple[Step, ...]
    sizes: dict[Tensor, int]                 # raw byte size of every tensor named
    external: frozenset                      # tensors outside the arena
    lifetimes: dict[Tensor, tuple[int, int]]  # arena tensor -> (first step, last step)
    offsets: dict[Tensor, int]               # arena tensor -> byte offset
    inplace: dict[Tensor, Tensor]            # applied: out -> the input it overwrites
    arena_bytes: int
    naive_bytes: int
    lower_bound_bytes: int
    strategy: str
    alignment: int = 64
    name_of: Callable[[Tensor], str] = field(default=str, repr=False)

    # -- views ------------------------------------------------------------------------------
    def offsets_by_name(self) -> dict[str, int]:
        return {self.name_of(t): o for t, o in self.offsets.items()}

    def summary(self) -> str:
        n = len(self.offsets)
        lines = [f"memory plan: {len(self.steps)} steps, {n} arena tensors "
                 f"({len(self.inplace)} in place), strategy {self.strategy}",
                 f"  naive {_fmt(self.naive_bytes)}, lower bound {_fmt(self.lower_bound_bytes)}, "
                 f"arena {_fmt(self.arena_bytes)}"]
        if self.arena_bytes:
            lines[-1] += (f" ({self.arena_bytes / max(self.lower_bound_bytes, 1):.3f}x lower "
                          f"bound, {self.arena_bytes / max(self.naive_bytes, 1):.3f}x naive)")
        return "\n".join(lines)

    def __str__(self) -> str:
        rows = sorted(self.offsets, key=lambda t: (self.lifetimes[t], self.offsets[t]))
        width = max([len(self.name_of(t)) for t in rows] + [6])
        out = [self.summary(), f"  {'tensor':<{width}} {'offset':>12} {'bytes':>12}  steps"]
        for t in rows:
            first, last = self.lifetimes[t]
            note = f"  in place over {self.name_of(self.inplace[t])}" if t in self.inplace else ""
            out.append(f"  {self.name_of(t):<{width}} {self.offsets[t]:>12} {self.sizes[t]:>12}"
                       f"  [{first}, {last}]{note}")
        return "\n".join(out)

    # -- checking ---------------------------------------------------------------------------
    def verify(self) -> "MemoryPlan":
        """Check alignment, bounds and that no two tensors live at one step share bytes
        (except an applied in-place pair, at one offset, handing over at that step)."""
        for t, o in self.offsets.items():
            if o % self.alignment:
                raise MemoryPlanError(f"{self.name_of(t)} at offset {o} is not aligned to "
                                      f"{self.alignment}")
            if o < 0 or o + self.sizes[t] > self.arena_bytes:
                raise MemoryPlanError(f"{self.name_of(t)} [{o}, {o + self.sizes[t]}) lies "
                                      f"outside the arena of {self.arena_bytes} bytes")
        expected = {t for s in self.steps for t in s.writes} - self.external
        if set(self.offsets) != expected:
            raise MemoryPlanError("offsets do not cover exactly the non-external tensors "
                                  "written by the steps")
        for out, inp in self.inplace.items():
            if self.offsets[out] != self.offsets[inp] or \
                    self.lifetimes[out][0] != self.lifetimes[inp][1]:
                raise MemoryPlanError(f"in-place pair {self.name_of(out)} over "
                                      f"{self.name_of(inp)} does not share an offset and a step")
        live = sorted((t for t in self.offsets if self.sizes[t]), key=lambda t: self.lifetimes[t])
        for i, a in enumerate(live):        # sweep in start order: O(n^2) worst, n is small
            a_first, a_last = self.lifetimes[a]
            for b in live[i + 1:]:
                if self.lifetimes[b][0] > a_last:
                    break
                if self.inplace.get(a, a) == b or self.inplace.get(b, b) == a:
                    continue
                oa, ob = self.offsets[a], self.offsets[b]
                if oa < ob + self.sizes[b] and ob < oa + self.sizes[a]:
                    raise MemoryPlanError(
                        f"{self.name_of(a)} [{oa}, {oa + self.sizes[a]}) and {self.name_of(b)} "
                        f"[{ob}, {ob + self.sizes[b]}) overlap while both live (steps "
                        f"{self.lifetimes[a]} and {self.lifetimes[b]})")
        if self.arena_bytes < self.lower_bound_bytes:
            raise MemoryPlanError(f"arena {self.arena_bytes} is below the lower bound "
                                  f"{self.lower_bound_bytes}")
        return self


def _fmt(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


# -- planning -------------------------------------------------------------------------------

def plan_memory(steps: Sequence[Step], sizes: Mapping[Tensor, int], external: Iterable[Tensor],
                alignment: int = 64, inplace: bool = True,
                name_of: Callable[[Tensor], str] = str) -> MemoryPlan:
    """Plan one arena for the steps (see the module docstring). Raises MemoryPlanError on a
    malformed step list: a tensor read before written and not external, written twice, without
    a size or negative, or an in-place pair the step does not read and write."""
    if alignment <= 0 or alignment & (alignment - 1):
        raise MemoryPlanError(f"alignment {alignment} is not a power of two")
    steps = tuple(steps)
    external = frozenset(external)
    sizes = dict(sizes)
    lifetimes = _lifetimes(steps, sizes, external, name_of)
    naive = sum(sizes[t] for t in lifetimes)
    align = functools.partial(round_up, alignment=alignment)

    pairs = _inplace_pairs(steps, sizes, lifetimes, name_of) if inplace else {}
    lower = _peak(steps, lifetimes, pairs, sizes)
    candidates = []
    for use in ([pairs, {}] if pairs else [{}]):
        buffers = _buffers(lifetimes, use, sizes, align)
        for strategy, order in STRATEGIES.items():
            offsets = _place(order(buffers, len(steps)))
            arena = max((offsets[id(b)] + b.size for b in buffers), default=0)
            name = strategy + (" + in place" if use else "")
            candidates.append((arena, name, use, buffers, offsets))
    arena, strategy, use, buffers, offsets = min(candidates, key=lambda c: c[0])
    return MemoryPlan(steps, sizes, external, lifetimes,
                      {t: offsets[id(b)] for b in buffers for t in b.members}, dict(use),
                      arena, naive, lower, strategy, alignment, name_of)


def _lifetimes(steps, sizes, external, name_of) -> dict[Tensor, tuple[int, int]]:
    first: dict[Tensor, int] = {}
    last: dict[Tensor, int] = {}
    for i, s in enumerate(steps):
        for t in s.reads:
            if t not in external:
                if t not in first:
                    raise MemoryPlanError(f"step {s.name}: {name_of(t)} is read before it is "
                                          "written and is not external")
                last[t] = i
        for t in s.writes:
            if t in external:
                continue
            if t in first:
                raise MemoryPlanError(f"step {s.name}: {name_of(t)} is written twice")
            if t not in sizes:
                raise MemoryPlanError(f"step {s.name}: {name_of(t)} has no size")
            if sizes[t] < 0:
                raise MemoryPlanError(f"step {s.name}: {name_of(t)} has a negative size")
            first[t] = last[t] = i
        for out, inp in s.inplace:
            if out not in s.writes or inp not in s.reads:
                raise MemoryPlanError(f"step {s.name}: in place pair ({name_of(out)}, "
                                      f"{name_of(inp)}) must name an output and an input of it")
    return {t: (first[t], last[t]) for t in first}


def _inplace_pairs(steps, sizes, lifetimes, name_of) -> dict[Tensor, Tensor]:
    """out -> inp for every declared pair that is legal (see the module docstring)."""
    pairs: dict[Tensor, Tensor] = {}
    taken: set = set()
    for i, s in enumerate(steps):
        for out, inp in s.inplace:
            if (out in lifetimes and inp in lifetimes and out not in pairs and inp not in taken
                    and lifetimes[inp][1] == i and 0 < sizes[out] <= sizes[inp]):
                pairs[out] = inp
                taken.add(inp)
    return pairs


def _peak(steps, lifetimes, pairs, sizes) -> int:
    """Most raw bytes live at one step; an in-place input is not counted at its last step."""
    delta = [0] * (len(steps) + 1)
    for t, (a, b) in lifetimes.items():
        delta[a] += sizes[t]
        delta[b + 1] -= sizes[t]
    for out, inp in pairs.items():
        delta[lifetimes[out][0]] -= min(sizes[out], sizes[inp])
        delta[lifetimes[out][0] + 1] += min(sizes[out], sizes[inp])
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


def _buffers(lifetimes, pairs, sizes, align) -> list[_Buffer]:
    """Group tensors joined by in-place pairs (chains) into buffers."""
    head = {}
    for t in lifetimes:   # lifetimes are in definition order, so inp comes before out
        head[t] = head[pairs[t]] if t in pairs else t
    groups: dict[Tensor, list[Tensor]] = {}
    for t, h in head.items():
        groups.setdefault(h, []).append(t)
    return [_Buffer(tuple(ms), align(max(sizes[t] for t in ms)),
                    min(lifetimes[t][0] for t in ms), max(lifetimes[t][1] for t in ms))
            for ms in groups.values()]


def _place(order: list[_Buffer]) -> dict[int, int]:
    """Best fit: each buffer takes the smallest gap between the already placed buffers whose
    lifetimes overlap its own that it fits in, or the top of them. Keyed by id(buffer)."""
    placed: list[tuple[int, _Buffer]] = []
    offsets: dict[int, int] = {}
    for b in order:
        if b.size == 0:
            offsets[id(b)] = 0
            continue
        busy = sorted(((o, p) for o, p in placed if p.start <= b.end and b.start <= p.end),
                      key=lambda op: op[0])
        best, best_gap, top = None, None, 0
        for o, p in busy:
            gap = o - top
            if gap >= b.size and (best_gap is None or gap < best_gap):
                best, best_gap = top, gap
            top = max(top, o + p.size)
        offset = top if best is None else best
        offsets[id(b)] = offset
        placed.append((offset, b))
    return offsets


def _by_size(buffers: list[_Buffer], n_steps: int) -> list[_Buffer]:
    return sorted(buffers, key=lambda b: (-b.size, b.start, b.end - b.start))


def _by_breadth(buffers: list[_Buffer], n_steps: int) -> list[_Buffer]:
    """Steps with the most live bytes first; within a step, its buffers largest first."""
    live: list[list[_Buffer]] = [[] for _ in range(n_steps)]
    for b in buffers:
        for s in range(b.start, b.end + 1):
            live[s].append(b)
    breadth = [sum(b.size for b in bs) for bs in live]
    order, seen = [], set()
    for s in sorted(range(n_steps), key=lambda s: -breadth[s]):
        for b in sorted(live[s], key=lambda b: -b.size):
            if id(b) not in seen:
                seen.add(id(b))
                order.append(b)
    return order


def _by_length(buffers: list[_Buffer], n_steps: int) -> list[_Buffer]:
    """Longest-lived first (they constrain the most others), then larger."""
    return sorted(buffers, key=lambda b: (-(b.end - b.start), -b.size, b.start))


STRATEGIES: dict[str, Callable[[list[_Buffer], int], list[_Buffer]]] = {
    "greedy by size": _by_size,
    "greedy by breadth": _by_breadth,
    "greedy by lifetime": _by_length,
}
