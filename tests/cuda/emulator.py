"""Run generated CUDA C on the CPU, so GPU kernels are checked for correctness without a GPU.

    emulate_launch(cuda_source(func), kernel_name(func), grid, block, [a, b, out, 7])

The source is compiled as C++ by g++ with emulator_header.h (CUDA built-ins as host code:
blocks run one after another, the threads of a block as fibers that switch at __syncthreads()
and warp shuffles, shared memory as `static`). NumPy arguments are the device pointers and are
written in place; ints and floats are by-value parameters. Shared libraries are cached by the
hash of source + header in the temp dir, so a kernel is compiled once per machine.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HEADER = Path(__file__).with_name("emulator_header.h")
GXX = shutil.which("g++")
EMULATOR_AVAILABLE = GXX is not None
CACHE = Path(tempfile.gettempdir()) / "tensorforge_cuda_emulator"
SYNCHRONIZING = ("__syncthreads", "__syncwarp", "__shfl")  # these need one fiber per thread
POINTEE = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
           "signed char": np.int8, "short": np.int16, "unsigned char": np.uint8,
           "unsigned short": np.uint16, "unsigned int": np.uint32,
           "unsigned long long": np.uint64, "bool": np.bool_}


class EmulatorError(RuntimeError):
    """The kernel does not compile as host C++, its arguments do not fit, or it deadlocked."""


def _launcher(name: str, source: str) -> str:
    plain = "false" if any(s in source for s in SYNCHRONIZING) else "true"
    return f"""
template <typename... A> static void tf_invoke(void (*k)(A...), void** args) {{
  tf_call(k, args, std::index_sequence_for<A...>{{}});
}}
template <typename... A> static constexpr int tf_arity(void (*)(A...)) {{ return sizeof...(A); }}
static void tf_body_{name}(void** args) {{ tf_invoke(&{name}, args); }}
extern "C" int tf_arity_{name}() {{ return tf_arity(&{name}); }}
extern "C" const char* tf_emulate_{name}(const unsigned* g, const unsigned* b, void** args) {{
  return tf_launch(tf_body_{name}, {plain}, g, b, args);
}}
"""


_LIBRARIES: dict = {}


def build(source: str, name: str) -> ctypes.CDLL:
    """The compiled shared library of kernel `name` (cached), or EmulatorError."""
    text = f'#include "{HEADER}"\n{source}\n{_launcher(name, source)}'
    key = hashlib.sha256((text + HEADER.read_text()).encode()).hexdigest()[:24]
    if key in _LIBRARIES:
        return _LIBRARIES[key]
    if not EMULATOR_AVAILABLE:
        raise EmulatorError("the CUDA emulator needs g++ on PATH")
    CACHE.mkdir(exist_ok=True)
    so = CACHE / f"{key}.so"
    if not so.exists():
        cpp = CACHE / f"{key}.{os.getpid()}.cpp"
        cpp.write_text(text)
        tmp = so.with_suffix(f".{os.getpid()}.so")
        done = subprocess.run([GXX, "-O1", "-std=c++17", "-shared", "-fPIC", "-w", "-x", "c++",
                               str(cpp), "-o", str(tmp)], capture_output=True, text=True)
        cpp.unlink()
        if done.returncode:
            raise EmulatorError(f"g++ rejected kernel {name}:\n{done.stderr[-4000:]}")
        os.replace(tmp, so)  # atomic: concurrent test processes never load half a file
    lib = _LIBRARIES[key] = ctypes.CDLL(str(so))
    return lib


def pointer_params(source: str, name: str) -> list:
    """Per kernel parameter: the NumPy dtype it points to, or None for a by-value scalar."""
    match = re.search(rf'extern "C"[^{{;]*?\b{re.escape(name)}\(([^)]*)\)\s*\{{', source)
    if match is None:
        raise EmulatorError(f"no kernel named {name!r} in the source")
    params = [p.strip() for p in match.group(1).split(",") if p.strip()]
    pointees = []
    for p in params:
        base = re.sub(r"\bconst\b|__restrict__", "", p).strip()
        pointees.append(POINTEE.get(base.split("*")[0].strip()) if "*" in base else None)
    return pointees


def _arg_slot(kernel: str, i: int, pointee, arg):
    """A ctypes object whose address the launcher reads as parameter i."""
    if pointee is not None:
        if not isinstance(arg, np.ndarray):
            raise EmulatorError(f"{kernel}: argument {i} is a pointer, got {type(arg).__name__}")
        if arg.dtype != pointee or not arg.flags.c_contiguous or not arg.flags.writeable:
            raise EmulatorError(f"{kernel}: argument {i} must be a writeable C-contiguous "
                                f"{np.dtype(pointee)} array, got {arg.dtype} "
                                f"(contiguous={arg.flags.c_contiguous})")
        return ctypes.c_void_p(arg.ctypes.data)
    if isinstance(arg, (bool, int, np.integer)):
        return ctypes.c_longlong(int(arg))
    if isinstance(arg, (float, np.floating)):
        return ctypes.c_double(float(arg))
    raise EmulatorError(f"{kernel}: argument {i} is by value, got {type(arg).__name__}")


def emulate_launch(source: str, name: str, grid: tuple, block: tuple, args: list) -> None:
    """Run kernel `name` of `source` over `grid` x `block` on host memory; arrays in place."""
    lib = build(source, name)
    arity = getattr(lib, f"tf_arity_{name}")()
    if len(args) != arity:
        raise EmulatorError(f"{name} takes {arity} arguments, got {len(args)}")
    slots = [_arg_slot(name, i, p, a)
             for i, (p, a) in enumerate(zip(pointer_params(source, name), args))]
    pointers = (ctypes.c_void_p * max(1, len(slots)))(*[ctypes.addressof(s) for s in slots])
    dims = [tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))]
    g, b = ((ctypes.c_uint * 3)(*d) for d in dims)
    launch = getattr(lib, f"tf_emulate_{name}")
    launch.restype = ctypes.c_char_p
    error = launch(g, b, pointers)
    if error is not None:
        raise EmulatorError(f"{name} grid {dims[0]} block {dims[1]}: {error.decode()}")
