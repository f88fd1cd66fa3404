"""TE operator definitions per op family: COMPUTE maps an IR op name to
fn(node, inputs: list[te.Tensor]) -> te.Tensor (or a tuple, one per output).

Inputs are te tensors of the node's input values (a 0-d value is held as shape (1,)); the
result has the node's output shapes. Anchors with a schedule template (MatMul/Gemm dense,
Conv) are computed by their template; these are the plain definitions, which also serve
the cases no template claims (1-D/3-D convolutions, weights that are graph inputs)."""

from . import conv, elementwise, matmul, norm, pool, pool_indices, reduce, resize, tensor
from .common import LoweringError

COMPUTE: dict = {"Conv": conv.conv, "ConvTranspose": conv.conv_transpose}
for _family in (elementwise, tensor, reduce, norm, pool, pool_indices, resize, matmul):
    COMPUTE.update(_family.COMPUTE)

__all__ = ["COMPUTE", "LoweringError"]
