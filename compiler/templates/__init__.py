"""Schedule templates. Importing this package registers every anchor template (dense, conv);
the generic injective/reduction schedules are used for groups no template claims."""

from . import dense_templates  # noqa: F401  (registers MatMul/Gemm)
from .generic import GENERIC_INJECTIVE, GENERIC_REDUCTION
from .registry import TEMPLATES, Template, register_template, select_template

try:  # the conv templates are written in parallel; lowering reports a missing one clearly
    from . import conv2d, conv2d_depthwise  # noqa: F401
except ImportError:  # pragma: no cover - until compiler/topi/conv.py lands
    pass

__all__ = ["TEMPLATES", "Template", "register_template", "select_template",
           "GENERIC_INJECTIVE", "GENERIC_REDUCTION"]
