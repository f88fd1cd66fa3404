"""A small ONNX graph builder for the built-in workloads: seeded weights, unique names, and
the layer idioms (Conv+BatchNormalization, Gemm, LayerNormalization) the families share.

Weights follow the usual initialisers so activations stay of order 1 through deep networks:
He-normal convolutions (std sqrt(2 / fan_in)), torch's uniform(+-1/sqrt(fan_in)) for fully
connected layers, and BatchNormalization with random scale/shift and running statistics near
what a He-initialised convolution produces (mean ~0, variance ~1), so no BN is an identity.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # what ONNX Runtime releases of the last years all read


class ModelBuilder:
    """Accumulates nodes and initializers; `finish` returns a checked-shape ModelProto.

    Every random draw comes from one `numpy.random.Generator(seed)` in build order, so the same
    (workload, batch, seed) gives byte-identical models."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self._counts: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        """A name not used before: base, base_1, base_2, ..."""
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def input(self, name: str, shape: Sequence[int], dtype=np.float32) -> str:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
        return name

    def const(self, base: str, array) -> str:
        """An initializer holding `array` (its dtype kept)."""
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, base: str, values: Sequence[int]) -> str:
        return self.const(base, np.asarray(values, dtype=np.int64))

    def op(self, op_type: str, inputs: Sequence[str], base: str | None = None, **attrs) -> str:
        """One single-output node; returns its output name."""
        out = self.fresh(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out],
                                           name=self.fresh(f"{op_type}_node"), **attrs))
        return out

    # -- seeded weights ---------------------------------------------------------------------
    def normal(self, shape: Sequence[int], std: float, mean: float = 0.0) -> np.ndarray:
        return (mean + std * self.rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)

    def uniform(self, shape: Sequence[int], low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, size=shape).astype(np.float32)

    # -- layer idioms -----------------------------------------------------------------------
    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int = 1, group: int = 1,
             bias: bool = False, base: str = "conv") -> str:
        """Conv with 'same'-style padding kernel//2 and a He-normal weight."""
        fan_in = c_in // group * kernel * kernel
        w = self.const(f"{base}.weight", self.normal((c_out, c_in // group, kernel, kernel),
                                                     np.sqrt(2.0 / fan_in)))
        ins = [x, w]
        if bias:
            ins.append(self.const(f"{base}.bias", self.uniform((c_out,), -fan_in ** -0.5,
                                                               fan_in ** -0.5)))
        p = kernel // 2
        return self.op("Conv", ins, base, kernel_shape=[kernel, kernel], pads=[p, p, p, p],
                       strides=[stride, stride], group=group, dilations=[1, 1])

    def batchnorm(self, x: str, channels: int, gamma: float = 1.0, base: str = "bn") -> str:
        """BatchNormalization with scale ~gamma*U(0.5, 1), shift ~N(0, 0.1), running mean
        ~N(0, 0.1) and running variance ~U(0.5, 1.5). A small `gamma` damps residual branches."""
        params = [self.uniform((channels,), 0.5 * gamma, gamma), self.normal((channels,), 0.1),
                  self.normal((channels,), 0.1), self.uniform((channels,), 0.5, 1.5)]
        names = [self.const(f"{base}.{p}", a)
                 for p, a in zip(("weight", "bias", "running_mean", "running_var"), params)]
        return self.op("BatchNormalization", [x, *names], base, epsilon=1e-5, momentum=0.9)

    def conv_bn(self, x: str, c_in: int, c_out: int, kernel: int, stride: int = 1,
                group: int = 1, act: str | None = "Relu", gamma: float = 1.0,
                base: str = "conv") -> str:
        """Conv (no bias) -> BatchNormalization -> optional activation ("Relu" or "Relu6")."""
        y = self.batchnorm(self.conv(x, c_in, c_out, kernel, stride, group, base=base),
                           c_out, gamma, base=f"{base}.bn")
        return self.activation(y, act)

    def activation(self, x: str, act: str | None) -> str:
        if act is None:
            return x
        if act == "Relu6":  # torch's ReLU6 exports as Clip with constant bounds
            lo = self.const("clip.min", np.array(0.0, np.float32))
            hi = self.const("clip.max", np.array(6.0, np.float32))
            return self.op("Clip", [x, lo, hi], "relu6")
        return self.op(act, [x])

    def linear(self, x: str, n_in: int, n_out: int, base: str = "fc",
               out: str | None = None) -> str:
        """Gemm(x, W[out, in], b, transB=1), as torch exports nn.Linear on 2-D inputs; `out`
        names the result (default: `base`)."""
        bound = n_in ** -0.5
        w = self.const(f"{base}.weight", self.uniform((n_out, n_in), -bound, bound))
        b = self.const(f"{base}.bias", self.uniform((n_out,), -bound, bound))
        return self.op("Gemm", [x, w, b], out or base, transB=1)

    def finish(self, outputs: Sequence[str]) -> onnx.ModelProto:
        """The model, its outputs typed by ONNX shape inference."""
        graph = helper.make_graph(self.nodes, self.name, self.inputs,
                                  [onnx.ValueInfoProto(name=o) for o in outputs],
                                  self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="tensorforge.workloads")
        model.ir_version = IR_VERSION
        typed = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        del model.graph.output[:]
        model.graph.output.extend(typed.graph.output)
        return model

