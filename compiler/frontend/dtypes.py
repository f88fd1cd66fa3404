"""The ONNX element types TensorForge computes in: those with a plain NumPy dtype (bool, the
sized ints and uints, float16/32/64).

Newer opsets admit types NumPy has no native dtype for (bfloat16, the float8 family, float8e8m0,
int4/uint4, float4e2m1, int2/uint2, float6 ...) and string tensors. A model that uses any of
them, as an initializer, a graph input/output/value_info, a tensor attribute (Constant,
ConstantOfShape) or a Cast target, is refused once at import, naming each dtype and where it
occurs, instead of failing inside some op's type check.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ..errors import UnsupportedModelError
from ..ops.registry import NUMERIC_TYPES

COMPUTE_TYPES = frozenset(NUMERIC_TYPES | {"bool"})

# Attributes that hold an element type rather than a tensor.
TYPE_ATTRS = {"Cast": "to"}


def type_name(elem_type: int) -> str:
    """ONNX's name for an element type (BFLOAT16, FLOAT8E4M3FN, ...)."""
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def numpy_dtype(elem_type: int) -> str | None:
    """The NumPy dtype name TensorForge computes `elem_type` in, or None if it has none."""
    try:
        dtype = str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError, ValueError):
        return None
    return dtype if dtype in COMPUTE_TYPES else None


def _typed_values(graph: onnx.GraphProto):
    """(element type, what, name) for every tensor the graph declares or holds."""
    for t in graph.initializer:
        yield t.data_type, "initializer", t.name
    for kind, infos in (("input", graph.input), ("output", graph.output),
                        ("value_info", graph.value_info)):
        for vi in infos:
            if vi.type.HasField("tensor_type"):
                yield vi.type.tensor_type.elem_type, f"graph {kind}", vi.name
    for i, n in enumerate(graph.node):
        name = n.name or f"{n.op_type}_{i}"
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t.data_type, f"{n.op_type} attribute {a.name}", name
            elif TYPE_ATTRS.get(n.op_type) == a.name:
                yield a.i, f"{n.op_type} attribute {a.name}", name


def unsupported_dtypes(graph: onnx.GraphProto) -> list[tuple[str, str, str]]:
    """(ONNX type name, what, name) for each tensor whose element type has no NumPy dtype; an
    undefined element type (a graph input or output declared without one) is not reported."""
    return [(type_name(t), what, name) for t, what, name in _typed_values(graph)
            if t != TensorProto.UNDEFINED and numpy_dtype(t) is None]


def check_dtypes(proto: onnx.ModelProto, opset: int) -> None:
    """Refuse the model once, listing every tensor of an element type TensorForge lacks."""
    bad = unsupported_dtypes(proto.graph)
    if bad:
        raise UnsupportedModelError(
            [(f"{dtype} {what}", opset, name) for dtype, what, name in bad],
            f"element types without a NumPy dtype are not supported (TensorForge computes in "
            f"{', '.join(sorted(COMPUTE_TYPES))})")
