"""Schedule templates. Importing this package registers every anchor template (dense, conv);
the generic injective/reduction schedules (CPU: generic.py, GPU: gpu_generic.py) are used for
groups no template claims."""

from . import dense_templates  # noqa: F401  (registers MatMul/Gemm)
from .generic import GENERIC_INJECTIVE, GENERIC_REDUCTION
from . import gpu_conv, gpu_dense  # noqa: F401  (register Conv, MatMul/Gemm on cuda)
from .gpu_generic import GPU_INJECTIVE, GPU_REDUCTION
from .registry import (TEMPLATES, Template, alternative_templates, register_template,
                       select_template, target_kind)
from . import conv2d, conv2d_depthwise  # noqa: F401  (register Conv/ConvTranspose)
from . import conv2d_winograd  # noqa: F401  (after conv2d: an alternative to it)

__all__ = ["TEMPLATES", "Template", "alternative_templates", "register_template",
           "select_template", "target_kind",
           "GENERIC_INJECTIVE", "GENERIC_REDUCTION", "GPU_INJECTIVE", "GPU_REDUCTION"]
