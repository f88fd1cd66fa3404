"""MatMul and Gemm on the dense template (compiler/templates/dense.py).

Any float32 product is seen as a dense [M, K] x [K, N], batched when B has batch dims:

    MatMul [b.., M, K] x [K, N]       -> dense [b*M, K] x [K, N]   (rows of all batches)
    MatMul [b.., M, K] x [b.., K, N]  -> dense [b, M, K] x [b, K, N]
    Gemm   A' [M, K] x B' [K, N]      -> dense, transB read as B[j, k]; alpha, beta*C epilogue

views (inlined index maps) giving the dense shapes, and the result viewed back to the node's
shape for the epilogue. A constant B is packed at compile time into panels
[ceil(N/nr), K, nr] (zero padded), so no kernel call repacks weights. The schedule views the
group output at the dense shape (same bytes, row-major) and runs dense_schedule on it; the
lowering binds that view's buffer to the output value.
"""

from __future__ import annotations

import math

from .. import te, tir
from ..ops import broadcast_shapes
from ..topi.common import broadcast_index
from ..topi.tensor import _reshape_index
from .dense import default_config, dense, dense_schedule, dense_space
from .packing import blocked
from .registry import Template, register_template

DENSE_DTYPES = frozenset({"float32"})


class _Dims:
    """The dense problem a MatMul or Gemm node stands for."""

    def __init__(self, node):
        a, b = node.inputs[0].shape, node.inputs[1].shape
        if node.op == "Gemm":
            t = node.attrs
            self.M, self.K = (a[1], a[0]) if t["transA"] else a
            self.N = b[0] if t["transB"] else b[1]
            self.a_batch = self.b_batch = ()
            self.trans_b = bool(t["transB"])
            return
        a2 = a if len(a) > 1 else (1,) + a
        b2 = b if len(b) > 1 else b + (1,)
        self.trans_b = False
        self.K, self.N = b2[-2], b2[-1]
        self.b_batch = b2[:-2] if math.prod(b2[:-2]) > 1 else ()
        self.batch = broadcast_shapes(a2[:-2], b2[:-2])
        self.a_shape, self.b_shape = a2, b2
        # a shared B folds every batch of A into the rows
        self.M = a2[-2] * (1 if self.b_batch else math.prod(self.batch))
        self.a_batch = self.batch if self.b_batch else ()


def _applies(node) -> bool:
    return all(v.dtype in DENSE_DTYPES for v in node.inputs) and \
        all(len(v.shape) >= 1 for v in node.inputs[:2])


def _const_b(node) -> bool:
    return node.inputs[1].is_const and not _Dims(node).b_batch


def space(node, target=None) -> dict:
    d = _Dims(node)
    knobs = dense_space(d.M, d.N, d.K, target)
    if _const_b(node):
        knobs["pack_b"] = [False]  # packed at compile time instead
    return knobs


def default(node, target=None) -> dict:
    d = _Dims(node)
    config = default_config(d.M, d.N, d.K, target)
    return {**config, "pack_b": False} if _const_b(node) else config


def pack(node, config) -> dict:
    """B (or B^T for transB) -> panels Bp[jo, k, ji] = B[k, jo*nr + ji], zero padded."""
    if not _const_b(node):
        return {}
    d = _Dims(node)
    b = node.inputs[1].data.reshape(d.N, d.K) if d.trans_b else node.inputs[1].data.reshape(d.K, d.N).T
    return {1: blocked(b, config["nr"])}


def _b_view(node, b, d, nr):
    """B as dense reads it: [K, N] from panels (nr None: B was not packed, the GPU template),
    or the operand itself / its batched view."""
    if _const_b(node) and nr is not None:
        return te.compute((d.K, d.N), lambda k, j: b[j // nr, k, j % nr], "B.panels"), False
    if node.op == "Gemm":
        return b, d.trans_b
    if d.b_batch:
        nb = math.prod(d.batch)
        return te.compute((nb, d.K, d.N), lambda f, k, j: b[_batch_index(d.b_shape, d.batch, f)
                                                          + (k, j)], "B.view"), False
    return te.compute((d.K, d.N), lambda k, j: b[(tir.const(0),) * (len(b.shape) - 2) + (k, j)]
                      if len(b.shape) > 1 else b[k], "B.view"), False


def _batch_index(shape2, batch, f):
    """Indices of the batch dims of an operand (shape2: its >= 2-d shape) for flat batch f."""
    full = _reshape_index(batch, (math.prod(batch),), (f,)) if batch else ()
    return broadcast_index(shape2[:-2], full)


def _a_view(node, a, d):
    if node.op == "Gemm":
        if node.attrs["transA"]:
            return te.compute((d.M, d.K), lambda i, k: a[k, i], "A.t")
        return a
    rank1 = len(node.inputs[0].shape) == 1
    if d.b_batch:
        nb = math.prod(d.batch)
        return te.compute((nb, d.a_shape[-2], d.K),
                          lambda f, i, k: a[k] if rank1 else
                          a[_batch_index(d.a_shape, d.batch, f) + (i, k)], "A.view")
    full = d.batch + d.a_shape[-2:]
    return te.compute((d.M, d.K), lambda m, k: a[k] if rank1 else
                      a[broadcast_index(d.a_shape, _reshape_index(full, (d.M, d.K), (m, k)))],
                      "A.view")


def compute(node, inputs, config):
    """The node's output (its own shape) from the dense product plus Gemm's alpha/beta*C."""
    d, out = _Dims(node), node.outputs[0]
    a, b, *c = inputs
    bv, trans = _b_view(node, b, d, config.get("nr"))
    prod = dense(_a_view(node, a, d), bv, {**config, "pack_b": config.get("pack_b", False)},
                 transpose_b=trans, name=out.name + ".dense")
    if node.op == "Gemm":
        return _gemm_epilogue(node, prod, c)
    if tuple(prod.shape) == tuple(out.shape):
        return prod
    return te.compute(out.shape or (1,), lambda *o: prod[_reshape_index(prod.shape, out.shape, o)]
                      if out.shape else prod[(tir.const(0),) * len(prod.shape)], out.name)


def _gemm_epilogue(node, prod, c):
    at, out = node.attrs, node.outputs[0]
    dt = out.dtype
    if at["alpha"] == 1.0 and not c:
        return prod

    def body(i, j):
        y = prod[i, j] if at["alpha"] == 1.0 else tir.Const(at["alpha"], dt) * prod[i, j]
        if c:
            shape = node.inputs[2].shape
            cv = c[0][broadcast_index(shape, (i, j))] if shape else c[0][tir.const(0)]
            y = y + (cv if at["beta"] == 1.0 else tir.Const(at["beta"], dt) * cv)
        return y

    return te.compute(out.shape, body, out.name)


def dense_output(outs, anchor):
    """(the group output viewed at the dense shape, the dense tensor)."""
    (out,) = outs
    dense_t = te.find_tagged([anchor], "dense")
    if dense_t is None:
        raise te.TEError("dense template: no dense stage under the anchor")
    if tuple(out.shape) != tuple(dense_t.shape):
        src = out
        out = te.compute(dense_t.shape, lambda *c: src[_reshape_index(src.shape, dense_t.shape, c)],
                         src.name + ".flat")
    return out, dense_t


def schedule(outs, anchor, config, target=None) -> te.Schedule:
    """dense_schedule on the group output viewed at the dense shape."""
    out, dense_t = dense_output(outs, anchor)
    return dense_schedule([out], {**config, "pack_b": config.get("pack_b", False)}, target,
                          anchor=dense_t)


DENSE = register_template(Template(
    name="dense", ops=frozenset({"MatMul", "Gemm"}), compute=compute, schedule=schedule,
    space=space, default=default, applies=_applies, pack=pack))
