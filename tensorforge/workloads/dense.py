"""Fully connected workloads: the MNIST-shaped MLP and square GEMMs (one MatMul against a
constant weight), the usual first kernels to tune and compare against BLAS."""

from __future__ import annotations

import onnx

from .builder import ModelBuilder


def mlp(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """784 -> 512 -> 512 -> 10 with Relu between, as Gemm(transB=1) nodes; 0.67 M parameters."""
    b = ModelBuilder("mlp", seed)
    x = b.input("input", (batch, 784))
    x = b.op("Relu", [b.linear(x, 784, 512, "fc1")])
    x = b.op("Relu", [b.linear(x, 512, 512, "fc2")])
    b.linear(x, 512, 10, "fc3", out="output")
    return b.finish(["output"])


def gemm(n: int, batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """output[batch*n, n] = input[batch*n, n] @ weight[n, n]; weight ~N(0, 1/n) keeps the
    output of order 1. `batch` stacks more rows, so the kernel stays a 2-D GEMM."""
    b = ModelBuilder(f"gemm{n}", seed)
    x = b.input("input", (batch * n, n))
    w = b.const("weight", b.normal((n, n), n ** -0.5))
    b.op("MatMul", [x, w], "output")
    return b.finish(["output"])
