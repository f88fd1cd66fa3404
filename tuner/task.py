"""A tuning task: one kernel workload, its config space, and how to build and check it.

The measurer and the search see only this interface, so any kernel source can be tuned:

    workload, target, template: str     # the database key (workload = structural hash)
    space: ConfigSpace
    flops: float                        # for GFLOP/s reports
    build(config) -> artifact           # in the tuner process; must pickle (crosses processes)
    load(artifact) -> fn(*args)         # in the worker: something callable on numpy arrays
    arguments() -> [np.ndarray]         # every argument, outputs included
    outputs: tuple[int, ...]            # which arguments the kernel writes
    reference(args) -> [np.ndarray]     # expected outputs, computed once per task
    features(config) -> np.ndarray      # for the cost model (optional: knob values otherwise)

`TirTask` is the implementation for loop-IR kernels: `build` lowers a config to a PrimFunc
(cheap, picklable), the worker compiles it with LLVM, so a compiler crash stays isolated too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from ..compiler import tir
from .features import featurize
from .space import Config, ConfigSpace


@dataclass(eq=False)
class TirTask:
    """`make_func(config) -> PrimFunc` and `reference_fn(*inputs) -> outputs` must be
    module-level functions (or partials of them) so the task pickles into workers; inputs are
    the buffers the kernel does not write, in parameter order."""

    workload: str
    target: str
    template: str
    space: ConfigSpace
    make_func: Callable[[Config], tir.PrimFunc]
    reference_fn: Callable
    flops: float
    seed: int = 0
    _features: dict = field(default_factory=dict, repr=False)

    def build(self, config: Config) -> tir.PrimFunc:
        return self.make_func(config)

    def load(self, func: tir.PrimFunc) -> Callable:
        from ..codegen import build
        return build(func, self.target)

    def _first(self) -> tir.PrimFunc:
        """Any config's kernel: all share the parameter list."""
        return self.make_func(self.space[0])

    @property
    def outputs(self) -> tuple[int, ...]:
        func = self._first()
        written = {n.buffer for n in tir.walk(func.body) if isinstance(n, tir.Store)}
        return tuple(k for k, p in enumerate(func.params) if p in written)

    def arguments(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [rng.standard_normal(p.shape).astype(p.dtype) for p in self._first().params]

    def reference(self, args) -> list[np.ndarray]:
        outs = set(self.outputs)
        result = self.reference_fn(*(a for k, a in enumerate(args) if k not in outs))
        return list(result) if isinstance(result, (list, tuple)) else [result]

    def features(self, config: Config) -> np.ndarray:
        key = self.space.index(config)
        if key not in self._features:
            self._features[key] = featurize(self.make_func(config), self.space.knob_vector(config))
        return self._features[key]

    def __getstate__(self):
        return {**self.__dict__, "_features": {}}


class Task(Protocol):
    """What the measurer and tune_task use (see the module docstring); TirTask is one."""

    workload: str
    target: str
    template: str
    space: ConfigSpace
    flops: float
    outputs: tuple

    def build(self, config: Config) -> Any: ...
    def load(self, artifact: Any) -> Callable: ...
    def arguments(self) -> list: ...
    def reference(self, args: list) -> list: ...
