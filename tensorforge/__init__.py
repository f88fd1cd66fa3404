"""TensorForge: a tensor compiler with an auto-tuner. ONNX in, fast native kernels out."""

__version__ = "0.1.0"

from . import compiler  # noqa: E402

__all__ = ["compiler", "__version__"]
