"""Targets as data: which CPU the LLVM backend compiles for, and whether this host can run it;
or which NVIDIA GPU architecture the CUDA backend schedules for.

    Target.parse("llvm")                      # this host: its CPU name and exact features
    Target.parse("llvm -mcpu=avx512")         # alias of LLVM's x86-64-v4
    Target.parse("llvm -mcpu=haswell -mattr=+avx2,+fma")
    Target("cuda -arch=sm_90")                # Target(text) is Target.parse(text)
    Target("cuda")                            # no -arch: the runtime fills in the device's
                                              #   (with_arch)

A CUDA target carries the limits schedules respect (warp size 32, 1024 threads per block,
48 KiB of static shared memory per block, 128-bit vector loads). Its `-arch` names the GPU
the code was scheduled and tuned for (tuning records key on it; the runtime refuses a device
older than it); NVRTC compiles for the device at hand (runtime/cuda_device.py says why).

A CPU name is checked by LLVM itself (any name LLVM knows works). The SIMD features a named
CPU implies are probed by compiling one tiny function per feature and looking for the
instruction it needs in the assembly: LLVM stays the single source of truth, no table to
maintain. Compiling works for any target on any host; `check_runnable()` refuses, naming
the missing features, before code for a richer CPU could die of an illegal instruction.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from dataclasses import dataclass, field

import llvmlite.binding as llvm

from ..compiler.errors import TensorForgeError
from ..compiler.tir import CUDA_LIMITS

CUDA_TRIPLE = "nvptx64-nvidia-cuda"
CUDA_ARCH = re.compile(r"^sm_\d{2,3}a?$")
ALIASES = {"avx512": "x86-64-v4", "avx2": "x86-64-v3"}
EXAMPLE_CPUS = ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "haswell", "skylake-avx512",
                "icelake-server", "sapphirerapids", "znver3", "znver4", "avx512 (alias)")
# Host features reported explicitly (+ or -) in a host target's -mattr: the SIMD families,
# so a VM that masks AVX-512 on an AVX-512 CPU model still gets AVX2 code.
SIMD_FEATURE = re.compile(r"^(sse|ssse|avx|fma|f16c|amx|bmi|popcnt|aes|pclmul|vpclmulqdq|gfni)")

# feature -> (LLVM IR of a function needing it, regex its assembly matches when available)
PROBES = {
    "avx512f": ("fadd <16 x float> %a, %a", "<16 x float>", r"zmm"),
    "avx512bw": ("add <64 x i8> %a, %a", "<64 x i8>", r"vpaddb\s+%zmm"),
    "avx512dq": ("mul <8 x i64> %a, %a", "<8 x i64>", r"vpmullq"),
    "avx2": ("add <8 x i32> %a, %a", "<8 x i32>", r"vpadd\w*\s+%ymm"),
    "avx": ("fadd <8 x float> %a, %a", "<8 x float>", r"vaddps\s+%ymm"),
    "fma": ("call float @llvm.fma.f32(float %a, float %a, float %a)", "float", r"vfmadd"),
    "sse4.1": ("call float @llvm.floor.f32(float %a)", "float", r"roundss"),
    "f16c": ("fpext <8 x half> %a to <8 x float>", "<8 x half>", r"vcvtph2ps"),
}


class TargetError(TensorForgeError):
    """An unknown CPU/feature, or a target this host cannot execute."""


def _init_llvm():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.lru_cache(maxsize=None)
def host_features() -> frozenset:
    return frozenset(k for k, v in llvm.get_host_cpu_features().items() if v)


def _with_stderr_captured(fn):
    """Run fn() with file descriptor 2 redirected; return (result, what LLVM printed)."""
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return result, tmp.read().decode(errors="replace")


@functools.lru_cache(maxsize=None)
def target_machine(triple: str, cpu: str, mattr: str, opt: int = 3):
    """An llvmlite TargetMachine; unknown CPU or feature names raise instead of LLVM warning
    (and later aborting the process on an unknown CPU)."""
    _init_llvm()
    create = lambda: llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=mattr, opt=opt, reloc="default", codemodel="jitdefault")
    tm, printed = _with_stderr_captured(create)
    if "not a recognized processor" in printed:
        raise TargetError(f"unknown CPU {cpu!r} for {triple}; valid names include "
                          f"{', '.join(EXAMPLE_CPUS)} (any CPU LLVM knows)")
    bad = re.findall(r"'([^']+)' is not a recognized feature", printed)
    if bad:
        raise TargetError(f"unknown CPU feature(s) {', '.join(sorted(set(bad)))} in -mattr")
    return tm


@functools.lru_cache(maxsize=None)
def probe_features(triple: str, cpu: str, mattr: str) -> frozenset:
    """The PROBES features that code compiled for (cpu, mattr) may use."""
    tm = target_machine(triple, cpu, mattr)
    found = set()
    for name, (op, ty, pattern) in PROBES.items():
        decl = "declare float @llvm.fma.f32(float, float, float)\ndeclare float @llvm.floor.f32(float)"
        rty = op.split(" to ")[-1] if " to " in op else ty
        ir = (f"{decl}\ndefine {rty} @probe({ty} %a) \"min-legal-vector-width\"=\"512\" {{\n"
              f"  %r = {op}\n  ret {rty} %r\n}}\n")
        if re.search(pattern, tm.emit_assembly(llvm.parse_assembly(ir))):
            found.add(name)
    return frozenset(found)


def _parse_mattr(text: str) -> tuple:
    items = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in items if f[0] not in "+-"]
    if bad:
        raise TargetError(f"-mattr entries must start with + or -: {', '.join(bad)}")
    return items


def _parse_cuda(text: str, options: list) -> "Target":
    arch = ""
    for w in options:
        key, eq, value = w.partition("=")
        if key != "-arch" or not eq:
            raise TargetError(f"unknown target option {w!r} in {text!r}: expected "
                              "'cuda [-arch=sm_XX]'")
        if not CUDA_ARCH.match(value):
            raise TargetError(f"bad CUDA architecture {value!r} in {text!r}: expected sm_XX "
                              "(sm_80, sm_90, ...)")
        arch = value
    return Target("", (), CUDA_TRIPLE, "cuda", arch)


@dataclass(frozen=True)
class Target:
    """An LLVM CPU target (`features`: the CPU features its code may use) or a CUDA GPU
    target (`arch`: "sm_90", or "" when not given). `Target(text)` parses `text`."""

    cpu: str
    mattr: tuple = ()
    triple: str = field(default_factory=lambda: llvm.get_process_triple())
    kind: str = "llvm"
    arch: str = ""

    def __post_init__(self):
        if self.kind == "llvm" and self.cpu.split()[:1] in (["llvm"], ["cuda"]):
            parsed = Target.parse(self.cpu)  # Target("cuda -arch=sm_90")
            for f in ("cpu", "mattr", "triple", "kind", "arch"):
                object.__setattr__(self, f, getattr(parsed, f))

    @staticmethod
    def parse(text: str) -> "Target":
        words = text.split()
        if words and words[0] == "cuda":
            return _parse_cuda(text, words[1:])
        if not words or words[0] != "llvm":
            raise TargetError(f"unsupported target {text!r}: expected 'llvm [-mcpu=NAME] "
                              f"[-mattr=+feat,...] [-mtriple=TRIPLE]' or 'cuda [-arch=sm_XX]'")
        opts = {}
        for w in words[1:]:
            key, eq, value = w.partition("=")
            if key not in ("-mcpu", "-mattr", "-mtriple") or not eq:
                raise TargetError(f"unknown target option {w!r} in {text!r}")
            opts[key] = value
        mattr = _parse_mattr(opts.get("-mattr", ""))
        if "-mcpu" in opts:
            cpu = ALIASES.get(opts["-mcpu"], opts["-mcpu"])
            target = Target(cpu, mattr, opts.get("-mtriple", llvm.get_process_triple()))
        else:
            target = Target.host(extra=mattr)
        target.machine()  # validates the cpu and feature names now, not at first compile
        return target

    @staticmethod
    def host(extra: tuple = ()) -> "Target":
        """This machine: its CPU name with its exact SIMD features spelled out."""
        _init_llvm()
        feats = llvm.get_host_cpu_features()
        simd = tuple(f"{'+' if feats[k] else '-'}{k}" for k in sorted(feats) if SIMD_FEATURE.match(k))
        return Target(llvm.get_host_cpu_name(), simd + tuple(extra))

    @property
    def mattr_string(self) -> str:
        return ",".join(self.mattr)

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    def with_arch(self, arch: str) -> "Target":
        """This CUDA target for a given architecture (the device's, found by the runtime)."""
        if not self.is_gpu:
            raise TargetError(f"with_arch: target '{self}' is not a CUDA target")
        return _parse_cuda(f"cuda -arch={arch}", [f"-arch={arch}"])

    def _gpu_limit(self, name: str) -> int:
        if not self.is_gpu:
            raise TargetError(f"target '{self}' is not a GPU target: it has no {name}")
        return CUDA_LIMITS[name]

    @property
    def warp_size(self) -> int:
        return self._gpu_limit("warp_size")

    @property
    def max_threads_per_block(self) -> int:
        return self._gpu_limit("max_threads_per_block")

    @property
    def shared_memory_per_block(self) -> int:
        """Bytes of static shared memory one block may allocate."""
        return self._gpu_limit("shared_memory_per_block")

    def machine(self, opt: int = 3):
        if self.is_gpu:
            raise TargetError(f"target '{self}' is compiled by the CUDA backend, not LLVM")
        return target_machine(self.triple, self.cpu, self.mattr_string, opt)

    def owned_machine(self, opt: int = 3):
        """A new TargetMachine, not the cached one: for an MCJIT engine, which frees the
        machine it is given when the engine is freed."""
        return target_machine.__wrapped__(self.triple, self.cpu, self.mattr_string, opt)

    @functools.cached_property
    def features(self) -> frozenset:
        """Probed SIMD features plus every feature -mattr turns on (none for a GPU)."""
        if self.is_gpu:
            return frozenset()
        on = {f[1:] for f in self.mattr if f[0] == "+"}
        return probe_features(self.triple, self.cpu, self.mattr_string) | frozenset(on)

    @property
    def vector_bits(self) -> int:
        """Widest SIMD register (GPU: widest load, float4) the code generator should fill."""
        if self.is_gpu:
            return CUDA_LIMITS["vector_bits"]
        return 512 if "avx512f" in self.features else 256 if "avx" in self.features else 128

    def missing_features(self) -> list:
        return sorted(self.features - host_features())

    def check_runnable(self) -> None:
        """Raise TargetError naming the CPU features this host lacks for this target (a GPU
        target is checked against its device by the CUDA runtime, not here)."""
        if self.is_gpu:
            return
        if self.triple.split("-")[0] != llvm.get_process_triple().split("-")[0]:
            raise TargetError(f"target {self} is for {self.triple}; this host is "
                              f"{llvm.get_process_triple()}")
        missing = self.missing_features()
        if missing:
            raise TargetError(f"this host ({llvm.get_host_cpu_name()}) cannot run code for "
                              f"target '{self}': missing CPU features {', '.join(missing)}")

    def __str__(self) -> str:
        if self.is_gpu:
            return f"cuda -arch={self.arch}" if self.arch else "cuda"
        parts = [self.kind, f"-mcpu={self.cpu}"]
        if self.mattr:
            parts.append(f"-mattr={self.mattr_string}")
        if self.triple != llvm.get_process_triple():
            parts.append(f"-mtriple={self.triple}")
        return " ".join(parts)
