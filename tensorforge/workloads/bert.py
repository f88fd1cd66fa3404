"""A BERT-style encoder (BERT-mini shape): word + learned position embeddings, post-LN
layers of multi-head self-attention with an additive padding mask and a GELU (erf) FFN.
Linear layers are MatMul + Add with weight [in, out], as torch exports them on 3-D inputs."""

from __future__ import annotations

import math

import numpy as np
import onnx

from .builder import ModelBuilder

VOCAB = 8000
MAX_POSITIONS = 512


def _dense(b: ModelBuilder, x: str, n_in: int, n_out: int, base: str) -> str:
    bound = n_in ** -0.5
    w = b.const(f"{base}.weight", b.uniform((n_in, n_out), -bound, bound))
    bias = b.const(f"{base}.bias", b.uniform((n_out,), -bound, bound))
    return b.op("Add", [b.op("MatMul", [x, w], f"{base}.matmul"), bias], base)


def _layer_norm(b: ModelBuilder, x: str, hidden: int, base: str, out: str | None = None) -> str:
    """LayerNormalization over the last axis; scale 1+N(0, 0.1), shift N(0, 0.1)."""
    scale = b.const(f"{base}.weight", b.normal((hidden,), 0.1, mean=1.0))
    shift = b.const(f"{base}.bias", b.normal((hidden,), 0.1))
    return b.op("LayerNormalization", [x, scale, shift], out or base, axis=-1, epsilon=1e-12)


def _gelu(b: ModelBuilder, x: str, base: str) -> str:
    """x * 0.5 * (1 + erf(x / sqrt(2))), the exact GELU as exporters spell it."""
    half, one, sqrt2 = (b.const(f"{base}.c", np.array(v, np.float32))
                        for v in (0.5, 1.0, math.sqrt(2.0)))
    erf = b.op("Erf", [b.op("Div", [x, sqrt2], f"{base}.div")], f"{base}.erf")
    return b.op("Mul", [b.op("Mul", [x, b.op("Add", [erf, one], f"{base}.add")],
                             f"{base}.mul"), half], base)


def _attention(b: ModelBuilder, x: str, mask_bias: str, shapes: dict, heads: int, hidden: int,
               base: str) -> str:
    """softmax(Q K^T / sqrt(d) + mask) V over `heads` heads, then the output projection."""
    def split_heads(name, perm):  # [B, S, H] -> [B, heads, S, d] (or [B, heads, d, S] for K)
        y = b.op("Reshape", [_dense(b, x, hidden, hidden, f"{base}.{name}"), shapes["heads"]],
                 f"{base}.{name}.reshape")
        return b.op("Transpose", [y], f"{base}.{name}.t", perm=perm)

    q, k_t, v = (split_heads(n, p) for n, p in
                 (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])))
    scale = b.const(f"{base}.scale", np.array(math.sqrt(hidden // heads), np.float32))
    scores = b.op("Div", [b.op("MatMul", [q, k_t], f"{base}.scores"), scale], f"{base}.scaled")
    probs = b.op("Softmax", [b.op("Add", [scores, mask_bias], f"{base}.masked")],
                 f"{base}.probs", axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [probs, v], f"{base}.ctx")], f"{base}.ctx.t",
               perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, shapes["merged"]], f"{base}.ctx.reshape")
    return _dense(b, ctx, hidden, hidden, f"{base}.output")


def bert(batch: int = 1, seed: int = 0, seq_len: int = 128, layers: int = 4, hidden: int = 256,
         heads: int = 4, ffn: int = 1024) -> onnx.ModelProto:
    """Inputs input_ids, attention_mask int64 [batch, seq_len]; output last_hidden_state
    float32 [batch, seq_len, hidden]. Defaults: 4 layers, hidden 256, 4 heads, FFN 1024,
    vocab 8000, 512 positions (5.34 M parameters)."""
    b = ModelBuilder("bert", seed)
    ids = b.input("input_ids", (batch, seq_len), np.int64)
    mask = b.input("attention_mask", (batch, seq_len), np.int64)
    words = b.const("embeddings.word", b.normal((VOCAB, hidden), 1.0))
    positions = b.const("embeddings.position", b.normal((MAX_POSITIONS, hidden), 1.0))
    position_ids = b.const("position_ids", np.arange(seq_len, dtype=np.int64)[None])
    emb = b.op("Add", [b.op("Gather", [words, ids], "word_emb"),
                       b.op("Gather", [positions, position_ids], "pos_emb")], "embeddings")
    x = _layer_norm(b, emb, hidden, "embeddings.ln")

    # mask 1 = attend, 0 = padding -> additive bias 0 / -10000 of shape [B, 1, 1, S]
    m = b.op("Cast", [b.op("Unsqueeze", [mask, b.ints("axes", [1, 2])], "mask4d")],
             "mask_f", to=onnx.TensorProto.FLOAT)
    inverted = b.op("Sub", [b.const("one", np.array(1.0, np.float32)), m], "mask_inv")
    mask_bias = b.op("Mul", [inverted, b.const("neg", np.array(-10000.0, np.float32))],
                     "mask_bias")

    shapes = {"heads": b.ints("shape.heads", [batch, seq_len, heads, hidden // heads]),
              "merged": b.ints("shape.merged", [batch, seq_len, hidden])}
    for i in range(layers):
        base = f"layer{i}"
        attn = _attention(b, x, mask_bias, shapes, heads, hidden, f"{base}.attention")
        x = _layer_norm(b, b.op("Add", [attn, x], f"{base}.res1"), hidden, f"{base}.ln1")
        h = _gelu(b, _dense(b, x, hidden, ffn, f"{base}.ffn1"), f"{base}.gelu")
        h = _dense(b, h, ffn, hidden, f"{base}.ffn2")
        out = "last_hidden_state" if i == layers - 1 else None
        x = _layer_norm(b, b.op("Add", [h, x], f"{base}.res2"), hidden, f"{base}.ln2", out)
    return b.finish([x])
