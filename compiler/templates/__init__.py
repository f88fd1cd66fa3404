"""Schedule templates. Importing this package registers every anchor template (dense, conv);
the generic injective/reduction schedules (CPU: generic.py, GPU: gpu_generic.py) are used for
groups no template claims."""

from . import dense_templates  # noqa: F401  (registers MatMul/Gemm)
from .generic import GENERIC_INJECTIVE, GENERIC_REDUCTION
from . import gpu_conv, gpu_dense  # noqa: F401  (register Conv, MatMul/Gemm on cuda)
from .gpu_generic import GPU_INJECTIVE, GPU_REDUCTION
from .registry import TEMPLATES, Template, register_template, select_template, target_kind

try:  # the conv templates are written in parallel; lowering reports a missing one clearly
    from . import conv2d, conv2d_depthwise  # noqa: F401
except ImportError:  # pragma: no cover - until compiler/topi/conv.py lands
    pass

__all__ = ["TEMPLATES", "Template", "register_template", "select_template", "target_kind",
           "GENERIC_INJECTIVE", "GENERIC_REDUCTION", "GPU_INJECTIVE", "GPU_REDUCTION"]
