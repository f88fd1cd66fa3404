"""Matrix products as tensor expressions: MatMul (numpy.matmul semantics, batch dims
broadcast), Gemm (alpha * A' B' + beta * C) and Einsum (any equation, '...' included).

These plain computes are the fallback for dtypes the dense template does not take (integers):

    out[b..., i, j] = sum_k A[b..., i, k] * B[b..., k, j]

Float32 MatMul/Gemm go through compiler/templates/dense_templates.py, which uses `canonical`
to see any product as a (batched) [M, K] x [K, N] for the register-blocked dense template.
"""

from __future__ import annotations

import string

from .. import te, tir
from ..ops.linalg import split_equation
from .common import broadcast_index, compute


def _matmul_ranks(node):
    a, b = node.inputs[0].shape, node.inputs[1].shape
    return (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))


def matmul(node, inputs):
    a, b = inputs
    a2, b2 = _matmul_ranks(node)
    out = node.outputs[0]
    K = a2[-1]
    batch = out.shape[:len(out.shape) - (len(node.inputs[0].shape) > 1) - (len(node.inputs[1].shape) > 1)]

    def body(*o):
        k = te.reduce_axis(K, "k")
        bi, rest = o[:len(batch)], list(o[len(batch):])
        i = rest.pop(0) if len(node.inputs[0].shape) > 1 else None
        j = rest.pop(0) if len(node.inputs[1].shape) > 1 else None
        ai = broadcast_index(a2[:-2], bi) + ((i, k) if i is not None else (k,))
        bj = broadcast_index(b2[:-2], bi) + ((k, j) if j is not None else (k,))
        return te.sum(a[ai] * b[bj], axis=k)

    return compute(out.shape, body, out.name)


def gemm(node, inputs):
    a, b, *c = inputs
    at = node.attrs
    out = node.outputs[0]
    K = node.inputs[0].shape[0 if at["transA"] else 1]
    dt = out.dtype
    prod = te.compute(out.shape, lambda i, j: _gemm_sum(a, b, at, K, i, j), out.name + ".ab")

    def body(i, j):
        y = prod[i, j]
        if at["alpha"] != 1.0:
            y = tir.Const(at["alpha"], dt) * y
        if c:
            cv = c[0][broadcast_index(node.inputs[2].shape, (i, j))] if node.inputs[2].shape \
                else c[0][tir.const(0)]
            y = y + (cv if at["beta"] == 1.0 else tir.Const(at["beta"], dt) * cv)
        return y

    return te.compute(out.shape, body, out.name)


def _gemm_sum(a, b, at, K, i, j):
    k = te.reduce_axis(K, "k")
    av = a[k, i] if at["transA"] else a[i, k]
    bv = b[j, k] if at["transB"] else b[k, j]
    return te.sum(av * bv, axis=k)


def einsum(node, inputs):
    """out[labels of the output] = sum over the other labels of the product of the operands."""
    terms, out_term = split_equation(node.attrs["equation"])
    out = node.outputs[0]
    spare = iter(string.digits + string.punctuation)
    n_ell = len(out.shape) - len(out_term.replace("...", ""))
    ell = "".join(next(spare) for _ in range(max(n_ell, 0)))
    sizes: dict = {}
    expanded = []
    for term, v in zip(terms, node.inputs):
        head, dots, tail = term.partition("...")
        k = len(v.shape) - len(head) - len(tail)
        labels = head + (ell[len(ell) - k:] if dots else "") + tail
        expanded.append(labels)
        for c, d in zip(labels, v.shape):
            sizes[c] = d if sizes.get(c, 1) == 1 else sizes[c]  # 1 broadcasts (to 0 too)
    out_labels = out_term.replace("...", ell)
    summed = [c for c in dict.fromkeys("".join(expanded)) if c not in out_labels]

    def body(*o):
        env = dict(zip(out_labels, o))
        axes = [te.reduce_axis(sizes[c], f"r{n}") for n, c in enumerate(summed)]
        env.update(zip(summed, axes))
        prod = None
        for t, labels, v in zip(inputs, expanded, node.inputs):
            idx = tuple(tir.const(0) if d == 1 and sizes[c] > 1 else env[c]
                        for c, d in zip(labels, v.shape))
            val = t[idx] if idx else t[tir.const(0)]
            prod = val if prod is None else prod * val
        return te.sum(prod, axis=axes) if axes else prod

    return compute(out.shape, body, out.name)


COMPUTE = {"MatMul": matmul, "Gemm": gemm, "Einsum": einsum}
