"""tensorforge.codegen: loop IR -> native code. `build(func, target)` gives a callable Kernel."""

from .llvm import CodegenError
from .llvm_build import Kernel, build, lower, num_threads
from .target import Target, TargetError

__all__ = ["build", "lower", "Kernel", "Target", "TargetError", "CodegenError", "num_threads"]
