"""Converters for matrix products (MatMul, Gemm, Einsum) and Trilu."""

from ..ops.linalg import normalize_equation
from .reduce import known_int
from .registry import converter


@converter("MatMul", since=1)
def convert_matmul(ctx, node):
    return ctx.emit1("MatMul", node.inputs[:2])


@converter("Gemm", since=1)
def convert_gemm(ctx, node):
    """C is optional from opset 11 on; attributes get their defaults made explicit."""
    inputs = [v for v in node.inputs[:3] if v is not None]
    return ctx.emit1("Gemm", inputs, {
        "alpha": float(node.attr("alpha", 1.0)), "beta": float(node.attr("beta", 1.0)),
        "transA": int(node.attr("transA", 0)), "transB": int(node.attr("transB", 0))})


@converter("Einsum", since=12)
def convert_einsum(ctx, node):
    return ctx.emit1("Einsum", node.inputs, {"equation": normalize_equation(node.attr("equation"))})


@converter("Trilu", since=14)
def convert_trilu(ctx, node):
    k = node.input(1)
    return ctx.emit1("Trilu", [node.inputs[0]], {
        "upper": int(node.attr("upper", 1)),
        "k": 0 if k is None else known_int(ctx, k, "Trilu's k")})
