"""Inference BatchNormalization removal.

BatchNormalization(X; epsilon) with constant scale, B, mean, var is an affine map per channel
(axis 1):  Y = X * s + t  with  s = scale / sqrt(var + epsilon),  t = B - mean * s.

When X comes from a linear op with constant weights whose output has no other use, the map
folds into that op (FOLDERS below): the weights' output channels are multiplied by s and the
bias becomes bias * s + t. Otherwise it becomes Mul(X, s) + Add(t) with constant per-channel
tensors, which fusion later merges into the producer's epilogue. A BatchNormalization whose
statistics are not constants stays, and so does a float16 one: rounding x * s and + t
separately in float16 loses more than the fused op does (ONNX Runtime computes it wider).

The folding runs in float64 and casts back to the weights' dtype.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..graph import Graph, Node, Value
from .rewrite import Rewriter

REWRITTEN_DTYPES = {"float32", "float64"}


def _affine(bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, t) per channel, or None when the BatchNormalization must stay (see above)."""
    params = bn.inputs[1:5]
    if bn.inputs[0].dtype not in REWRITTEN_DTYPES or not all(v.is_const for v in params):
        return None
    scale, bias, mean, var = (v.data.astype(np.float64) for v in params)
    s = scale / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    return s, bias - mean * s


def _cast(arr: np.ndarray, like: Value) -> np.ndarray:
    return np.asarray(arr, dtype=like.dtype)


def _fold_conv(rw: Rewriter, conv: Node, s: np.ndarray, t: np.ndarray, out: Value) -> bool:
    """W[m, ...] *= s[m]; b = b * s + t."""
    x, w, *b = conv.inputs
    if not w.is_const or (b and not b[0].is_const) or w.shape[0] != s.size:
        return False
    bias = b[0].data.astype(np.float64) if b else 0.0
    w_new = w.data.astype(np.float64) * s.reshape((-1,) + (1,) * (w.data.ndim - 1))
    rw.emit1("Conv", [x, rw.new_constant(_cast(w_new, w), f"{w.name}_bn"),
                      rw.new_constant(_cast(bias * s + t, out), f"{conv.name or 'conv'}_bias")],
             conv.attrs, conv.name, replaces=out)
    return True


def _fold_gemm(rw: Rewriter, gemm: Node, s: np.ndarray, t: np.ndarray, out: Value) -> bool:
    """Columns of op(B) times s; C = beta * C * s + t, with beta then 1."""
    a, b, *c = gemm.inputs
    if not b.is_const or (c and not c[0].is_const):
        return False
    trans_b = int(gemm.attrs.get("transB", 0))
    b_new = b.data.astype(np.float64) * (s[:, None] if trans_b else s[None, :])
    beta = float(gemm.attrs.get("beta", 1.0))
    c_old = beta * c[0].data.astype(np.float64) if c else 0.0
    attrs = {"alpha": float(gemm.attrs.get("alpha", 1.0)), "beta": 1.0,
             "transA": int(gemm.attrs.get("transA", 0)), "transB": trans_b}
    rw.emit1("Gemm", [a, rw.new_constant(_cast(b_new, b), f"{b.name}_bn"),
                      rw.new_constant(_cast(c_old * s + t, out), f"{gemm.name or 'gemm'}_bias")],
             {**gemm.attrs, **attrs}, gemm.name, replaces=out)
    return True


def _fold_matmul(rw: Rewriter, mm: Node, s: np.ndarray, t: np.ndarray, out: Value) -> bool:
    """For a 2-D product the channel is W's last axis: W[:, m] *= s[m], then Add(t)."""
    a, w = mm.inputs
    if not w.is_const or len(out.shape) != 2 or w.shape[-1] != s.size:
        return False
    w_new = rw.new_constant(_cast(w.data.astype(np.float64) * s, w), f"{w.name}_bn")
    y = rw.emit1("MatMul", [a, w_new], mm.attrs, mm.name)
    rw.emit1("Add", [y, rw.new_constant(_cast(t, out), f"{mm.name or 'matmul'}_bias")],
             name=mm.name, replaces=out)
    return True


# producer op -> fold(rw, producer, s, t, bn_output): True when it emitted the folded op.
FOLDERS: dict[str, Callable[[Rewriter, Node, np.ndarray, np.ndarray, Value], bool]] = {
    "Conv": _fold_conv,
    "Gemm": _fold_gemm,
    "MatMul": _fold_matmul,
}


def _decompose(rw: Rewriter, bn: Node, s: np.ndarray, t: np.ndarray) -> None:
    x, out = bn.inputs[0], bn.outputs[0]
    per_channel = (-1,) + (1,) * (len(x.shape) - 2)
    name = bn.name or "bn"
    y = rw.emit1("Mul", [x, rw.new_constant(_cast(s.reshape(per_channel), x), f"{name}_scale")],
                 name=name)
    rw.emit1("Add", [y, rw.new_constant(_cast(t.reshape(per_channel), x), f"{name}_shift")],
             name=name, replaces=out)


def fold_batchnorm(graph: Graph) -> Graph:
    rw = Rewriter(graph)
    outputs = set(graph.outputs)
    for node in graph.nodes:
        affine = _affine(node) if node.op == "BatchNormalization" else None
        if affine is None:
            rw.keep(node)
            continue
        x = node.inputs[0]
        producer = rw.producer(x)
        fold = FOLDERS.get(producer.op) if producer is not None else None
        sole_use = len(rw.users(x)) == 1 and x not in outputs
        if fold is not None and sole_use and fold(rw, producer, *affine, node.outputs[0]):
            rw.drop(producer)
        else:
            _decompose(rw, node, *affine)
    return rw.finish()
