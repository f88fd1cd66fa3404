"""Graph passes (pure Graph -> Graph functions) and the standard pipeline.

`optimize` runs the flat list below, verifying the graph after every pass. Logger
"tensorforge.passes" gets one INFO line per pass with node counts; TENSORFORGE_DUMP=1 prints
the IR after each pass to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from ..graph import Graph
from .batchnorm import fold_batchnorm
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fold_constants import fold_constants, fold_shapes
from .fusion import fuse_operators
from .identities import remove_identities
from .reshapes import simplify_reshapes

log = logging.getLogger("tensorforge.passes")

Pass = Callable[[Graph], Graph]

PIPELINE: list[tuple[str, Pass]] = [
    ("remove_identities", remove_identities),
    ("fold_constants", fold_constants),          # weights' Transposes, shape arithmetic
    ("simplify_reshapes", simplify_reshapes),
    ("fold_batchnorm", fold_batchnorm),
    ("fold_constants", fold_constants),          # what the rewrites above left constant
    ("eliminate_common_subexpressions", eliminate_common_subexpressions),
    ("eliminate_dead_code", eliminate_dead_code),
]
FUSION: list[tuple[str, Pass]] = [("fuse_operators", fuse_operators)]
# opt_level 0: every op its own kernel, but a static shape is a constant (Shape has no kernel)
UNOPTIMIZED: list[tuple[str, Pass]] = [("fold_shapes", fold_shapes)]


def optimize(graph: Graph, fuse: bool = True,
             report: list[tuple[str, int, int]] | None = None, opt_level: int = 3) -> Graph:
    """Run the standard pipeline (fusion last, when `fuse`), or only UNOPTIMIZED at
    `opt_level` 0. If `report` is a list, one (pass name, nodes before, nodes after) tuple
    per pass is appended to it."""
    dump = os.environ.get("TENSORFORGE_DUMP", "") not in ("", "0")
    passes = PIPELINE + (FUSION if fuse else []) if opt_level > 0 else UNOPTIMIZED
    for name, run in passes:
        before = len(graph.nodes)
        graph = run(graph).verify()
        log.info("%-32s %5d -> %5d nodes", name, before, len(graph.nodes))
        if report is not None:
            report.append((name, before, len(graph.nodes)))
        if dump:
            print(f"// after {name}\n{graph}", file=sys.stderr)
    return graph


__all__ = ["optimize", "PIPELINE", "FUSION", "UNOPTIMIZED", "fold_batchnorm",
           "eliminate_common_subexpressions", "eliminate_dead_code", "fold_constants",
           "fold_shapes", "fuse_operators", "remove_identities", "simplify_reshapes"]
