"""Save a Module to one file and load it back without recompiling.

The file is a zip archive:

    header.json        format, TensorForge version, target, the Program (minus constants)
                       and the memory plan
    code.o             the library's object code (what runs)
    code.ll            its optimized LLVM IR (for `source()` after a load)
    constants/<k>.npy  the constants, in slot order

`load` refuses, with a ModuleFileError or TargetError naming the reason, a file that is not a
module, one another TensorForge version wrote (its plan and code conventions may differ), and
one whose target needs CPU features this host lacks.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict

import numpy as np

from .. import __version__
from ..codegen.llvm_library import Library
from ..codegen.target import Target
from ..compiler.aligned import aligned_copy
from ..compiler.errors import TensorForgeError
from .memory_plan import MemoryPlan, Step
from .module import Module
from .program import KernelCall, Program, TensorSpec

FORMAT = "tensorforge.module"
FORMAT_VERSION = 2  # 2: parallel loops call the thread pool, not libgomp


class ModuleFileError(TensorForgeError):
    """A file that is not a TensorForge module, is damaged, or came from another version."""


def save(module: Module, path) -> None:
    p, t, lib = module.program, module.target, module.library
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "tensorforge": __version__,
        "target": {"kind": t.kind, "cpu": t.cpu, "mattr": list(t.mattr), "triple": t.triple},
        "program": {"inputs": [asdict(s) for s in p.inputs],
                    "outputs": [asdict(s) for s in p.outputs],
                    "output_sources": p.output_sources,
                    "buffers": [asdict(s) for s in p.buffers],
                    "calls": [asdict(c) for c in p.calls],
                    "arena_bytes": p.arena_bytes, "constants": len(p.constants)},
        "memory_plan": _plan_to_json(module.memory_plan),
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.json", json.dumps(header, default=list), zipfile.ZIP_DEFLATED)
        zf.writestr("code.o", lib.object_code)
        zf.writestr("code.ll", lib.llvm_ir, zipfile.ZIP_DEFLATED)
        for c, a in enumerate(p.constants):
            with zf.open(f"constants/{c}.npy", "w", force_zip64=True) as f:
                np.save(f, a, allow_pickle=False)


def load(path) -> Module:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ModuleFileError(f"{path} is not a TensorForge module file ({e})") from None
    with zf:
        header = _header(zf, path)
        t = header["target"]
        target = Target(t["cpu"], tuple(t["mattr"]), t["triple"], t["kind"])
        target.check_runnable()
        try:
            hp = header["program"]
            consts = tuple(aligned_copy(np.load(zf.open(f"constants/{c}.npy"),
                                                allow_pickle=False))
                           for c in range(hp["constants"]))
            program = Program(
                tuple(TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in hp["inputs"]),
                tuple(TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in hp["outputs"]),
                tuple((k, i) for k, i in hp["output_sources"]),
                tuple(TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in hp["buffers"]),
                consts,
                tuple(KernelCall(c["name"], c["symbol"], tuple(map(tuple, c["args"])),
                                 c["workload"], c["template"], c["config"]) for c in hp["calls"]),
                hp["arena_bytes"])
            library = Library(target, zf.read("code.o"), zf.read("code.ll").decode())
            plan = _plan_from_json(header["memory_plan"])
        except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as e:
            raise ModuleFileError(f"{path}: damaged TensorForge module file ({e!r})") from None
    return Module(program, library, plan)


def _header(zf: zipfile.ZipFile, path) -> dict:
    try:
        header = json.loads(zf.read("header.json"))
    except (KeyError, ValueError) as e:
        raise ModuleFileError(f"{path} is not a TensorForge module file (no readable "
                              f"header.json: {e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModuleFileError(f"{path} is not a TensorForge module file")
    made_by = (header.get("tensorforge"), header.get("format_version"))
    if made_by != (__version__, FORMAT_VERSION):
        raise ModuleFileError(f"{path} was saved by TensorForge {made_by[0]} (module format "
                              f"{made_by[1]}); this is TensorForge {__version__} (format "
                              f"{FORMAT_VERSION}): compile the model again with this version")
    return header


def _plan_to_json(plan: MemoryPlan) -> dict:
    return {"steps": [asdict(s) for s in plan.steps], "sizes": plan.sizes,
            "external": sorted(plan.external), "lifetimes": plan.lifetimes,
            "offsets": plan.offsets, "inplace": plan.inplace, "arena_bytes": plan.arena_bytes,
            "naive_bytes": plan.naive_bytes, "lower_bound_bytes": plan.lower_bound_bytes,
            "strategy": plan.strategy, "alignment": plan.alignment}


def _plan_from_json(d: dict) -> MemoryPlan:
    steps = tuple(Step(s["name"], tuple(s["reads"]), tuple(s["writes"]),
                       tuple(map(tuple, s["inplace"]))) for s in d["steps"])
    return MemoryPlan(steps, d["sizes"], frozenset(d["external"]),
                      {t: tuple(v) for t, v in d["lifetimes"].items()}, d["offsets"],
                      d["inplace"], d["arena_bytes"], d["naive_bytes"], d["lower_bound_bytes"],
                      d["strategy"], d["alignment"]).verify()
