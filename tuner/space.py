"""Config spaces: the cross product of a template's knobs, addressed by a flat index.

    space = ConfigSpace({"tile_m": [4, 6, 8], "tile_n": [16, 32], "unroll": [True, False]})
    len(space) == 12; space[5] == {"tile_m": 6, "tile_n": 32, "unroll": False}

Index <-> config is a mixed-radix number (the first knob is the most significant digit), so a
space of billions of points needs no enumeration: sampling draws indices, annealing walks to
neighbours that differ in one knob. Knob values are JSON scalars so a config is a tuning
record as it is (AutoTVM's ConfigEntity, without the object).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import numpy as np

from ..compiler.errors import TensorForgeError

Config = dict[str, Any]
SCALARS = (bool, int, float, str)


class SpaceError(TensorForgeError):
    """A knob table that is not a valid space, or a config outside the space."""


class ConfigSpace:
    """The configs of `knobs` ({name: [candidate values]}), each knob with >= 1 candidate."""

    def __init__(self, knobs: dict[str, list]):
        self.knobs = {str(k): list(v) for k, v in knobs.items()}
        for name, values in self.knobs.items():
            if not values:
                raise SpaceError(f"knob {name!r} has no candidate values")
            bad = [v for v in values if not isinstance(v, SCALARS)]
            if bad:
                raise SpaceError(f"knob {name!r}: candidate {bad[0]!r} is not a JSON scalar "
                                 "(bool, int, float or str)")
            if len({json.dumps(v) for v in values}) != len(values):
                raise SpaceError(f"knob {name!r} lists a candidate twice: {values}")
        self.names = tuple(self.knobs)
        self.sizes = tuple(len(v) for v in self.knobs.values())
        self._positions = {n: {json.dumps(v): i for i, v in enumerate(vals)}
                           for n, vals in self.knobs.items()}

    def __len__(self) -> int:
        return int(np.prod(self.sizes, dtype=object)) if self.sizes else 1

    @property
    def size(self) -> int:
        return len(self)

    def __repr__(self) -> str:
        return f"ConfigSpace({len(self)} configs: {self.knobs})"

    # ------------------------------------------------------------ index <-> config

    def digits(self, index: int) -> tuple[int, ...]:
        """The candidate position of each knob for a flat index."""
        if not 0 <= index < len(self):
            raise SpaceError(f"config index {index} is outside the space of {len(self)} configs")
        out = []
        for size in reversed(self.sizes):
            index, d = divmod(index, size)
            out.append(d)
        return tuple(reversed(out))

    def from_digits(self, digits) -> int:
        index = 0
        for d, size in zip(digits, self.sizes):
            index = index * size + int(d)
        return index

    def __getitem__(self, index: int) -> Config:
        return {n: self.knobs[n][d] for n, d in zip(self.names, self.digits(int(index)))}

    def index(self, config: Config) -> int:
        """The flat index of a config; SpaceError if it has other knobs or values."""
        if set(config) != set(self.names):
            raise SpaceError(f"config knobs {sorted(config)} differ from the space's "
                             f"{sorted(self.names)}")
        digits = []
        for n in self.names:
            pos = self._positions[n].get(json.dumps(config[n]))
            if pos is None:
                raise SpaceError(f"knob {n!r}: {config[n]!r} is not one of {self.knobs[n]}")
            digits.append(pos)
        return self.from_digits(digits)

    def __contains__(self, config: Config) -> bool:
        try:
            self.index(config)
            return True
        except SpaceError:
            return False

    def __iter__(self) -> Iterator[Config]:
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------ search moves

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[int]:
        """`n` random indices (with replacement) drawn uniformly from the space."""
        digits = np.stack([rng.integers(0, s, n) for s in self.sizes], axis=1) \
            if self.sizes else np.zeros((n, 0), int)
        return [self.from_digits(d) for d in digits]

    def neighbours(self, index: int) -> list[int]:
        """Every index that differs from `index` in exactly one knob."""
        base = list(self.digits(index))
        out = []
        for k, size in enumerate(self.sizes):
            for d in range(size):
                if d != base[k]:
                    out.append(self.from_digits(base[:k] + [d] + base[k + 1:]))
        return out

    def random_neighbour(self, index: int, rng: np.random.Generator) -> int:
        """A neighbour changing one random knob (that has a choice) to another value."""
        movable = [k for k, s in enumerate(self.sizes) if s > 1]
        if not movable:
            return index
        digits = list(self.digits(index))
        k = movable[rng.integers(len(movable))]
        digits[k] = (digits[k] + 1 + rng.integers(self.sizes[k] - 1)) % self.sizes[k]
        return self.from_digits(digits)

    def knob_vector(self, config: Config) -> np.ndarray:
        """Knob values as floats for a cost model: numbers as they are, other values (str,
        bool) as their candidate position."""
        return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                         else float(self._positions[n][json.dumps(v)])
                         for n, v in ((n, config[n]) for n in self.names)], dtype=np.float64)
