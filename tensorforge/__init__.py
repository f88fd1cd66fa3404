"""TensorForge: a tensor compiler with an auto-tuner. ONNX in, fast native kernels out."""

__version__ = "0.1.0"

from . import compiler  # noqa: E402
from .api import compile, load  # noqa: E402
from .codegen import Target  # noqa: E402
from .runtime.module import Module  # noqa: E402

__all__ = ["compile", "load", "Module", "Target", "compiler", "__version__"]
