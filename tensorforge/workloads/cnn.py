"""Convolutional workloads in torchvision's layout: ResNet-18/50, MobileNetV2 and a single
Conv+BatchNormalization+Relu block. BatchNormalization is kept (folding it is the compiler's
job); the classifier is GlobalAveragePool -> Flatten -> Gemm, as torch exports it."""

from __future__ import annotations

import onnx

from .builder import ModelBuilder

# Residual branches end in a BN with scale ~U(0.1, 0.2): the sum of 16 residual blocks then
# stays of order 1 instead of growing with depth (torchvision's zero_init_residual, softened).
RESIDUAL_GAMMA = 0.2


def _stem(b: ModelBuilder, batch: int) -> str:
    """7x7/2 conv-bn-relu to 64 channels, 3x3/2 max pool: [batch, 64, 56, 56]."""
    x = b.input("input", (batch, 3, 224, 224))
    x = b.conv_bn(x, 3, 64, 7, stride=2, base="conv1")
    return b.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                strides=[2, 2])


def _head(b: ModelBuilder, x: str, channels: int) -> onnx.ModelProto:
    """GlobalAveragePool -> Flatten -> Gemm to the 1000 ImageNet classes."""
    x = b.op("GlobalAveragePool", [x], "avgpool")
    x = b.op("Flatten", [x], "flatten", axis=1)
    b.linear(x, channels, 1000, out="output")
    return b.finish(["output"])


def _basic_block(b: ModelBuilder, x: str, c_in: int, width: int, stride: int, base: str):
    """3x3 conv-bn-relu -> 3x3 conv-bn, plus identity (or 1x1 conv-bn downsample), relu."""
    y = b.conv_bn(x, c_in, width, 3, stride, base=f"{base}.conv1")
    y = b.conv_bn(y, width, width, 3, act=None, gamma=RESIDUAL_GAMMA, base=f"{base}.conv2")
    return _residual(b, x, y, c_in, width, stride, base), width


def _bottleneck(b: ModelBuilder, x: str, c_in: int, width: int, stride: int, base: str):
    """1x1 reduce -> 3x3 (stride here, torchvision v1.5) -> 1x1 expand x4, plus shortcut."""
    out = width * 4
    y = b.conv_bn(x, c_in, width, 1, base=f"{base}.conv1")
    y = b.conv_bn(y, width, width, 3, stride, base=f"{base}.conv2")
    y = b.conv_bn(y, width, out, 1, act=None, gamma=RESIDUAL_GAMMA, base=f"{base}.conv3")
    return _residual(b, x, y, c_in, out, stride, base), out


def _residual(b: ModelBuilder, x: str, y: str, c_in: int, c_out: int, stride: int, base: str):
    if stride != 1 or c_in != c_out:
        x = b.conv_bn(x, c_in, c_out, 1, stride, act=None, base=f"{base}.downsample")
    return b.op("Relu", [b.op("Add", [y, x], f"{base}.add")], f"{base}.relu")


def _resnet(name: str, block, layers: tuple[int, ...], batch: int, seed: int):
    b = ModelBuilder(name, seed)
    x, c = _stem(b, batch), 64
    for stage, blocks in enumerate(layers):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            x, c = block(b, x, c, 64 << stage, stride, f"layer{stage + 1}.{i}")
    return _head(b, x, c)


def resnet18(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """ResNet-18: BasicBlocks [2, 2, 2, 2], 11.69 M parameters, input [batch, 3, 224, 224]."""
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2), batch, seed)


def resnet50(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """ResNet-50 v1.5: Bottlenecks [3, 4, 6, 3], 25.56 M parameters."""
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), batch, seed)


# MobileNetV2 inverted-residual settings: (expansion t, channels c, repeats n, first stride s)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))


def _inverted_residual(b: ModelBuilder, x: str, c_in: int, c_out: int, t: int, stride: int,
                       base: str) -> str:
    """[1x1 expand-bn-relu6] -> 3x3 depthwise-bn-relu6 -> 1x1 project-bn (linear), + x when
    the shape is kept."""
    hidden = c_in * t
    y = x if t == 1 else b.conv_bn(x, c_in, hidden, 1, act="Relu6", base=f"{base}.expand")
    y = b.conv_bn(y, hidden, hidden, 3, stride, group=hidden, act="Relu6", base=f"{base}.dw")
    residual = stride == 1 and c_in == c_out
    y = b.conv_bn(y, hidden, c_out, 1, act=None, gamma=RESIDUAL_GAMMA if residual else 1.0,
                  base=f"{base}.project")
    return b.op("Add", [x, y], f"{base}.add") if residual else y


def mobilenetv2(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """MobileNetV2 width 1.0: 17 inverted residuals, ReLU6 as Clip(0, 6), 3.50 M parameters."""
    b = ModelBuilder("mobilenetv2", seed)
    x = b.input("input", (batch, 3, 224, 224))
    x, c = b.conv_bn(x, 3, 32, 3, 2, act="Relu6", base="features.0"), 32
    block = 1
    for t, c_out, n, s in MOBILENET_V2:
        for i in range(n):
            x = _inverted_residual(b, x, c, c_out, t, s if i == 0 else 1, f"features.{block}")
            c, block = c_out, block + 1
    x = b.conv_bn(x, c, 1280, 1, act="Relu6", base=f"features.{block}")
    return _head(b, x, 1280)


def convbnrelu(batch: int = 1, seed: int = 0) -> onnx.ModelProto:
    """Conv(64->64, 3x3, pad 1, bias) -> BatchNormalization -> Relu on [batch, 64, 56, 56]."""
    b = ModelBuilder("convbnrelu", seed)
    x = b.conv(b.input("input", (batch, 64, 56, 56)), 64, 64, 3, bias=True)
    b.op("Relu", [b.batchnorm(x, 64)], "output")
    return b.finish(["output"])
