"""Helpers shared by the conv tests and bench/bench_conv.py: a Conv/ConvTranspose node from
arrays, and one kernel built from a template (or the generic compute) the way lowering does
it: placeholders per input (packed constants in their packed shape), the anchor compute, an
optional Relu / residual-Add epilogue, the template's schedule, te.lower, codegen.build."""

from __future__ import annotations

import numpy as np

from tensorforge.codegen import build
from tensorforge.compiler import te
from tensorforge.compiler.graph import Node, Value
from tensorforge.compiler.ops.registry import infer_types, run_op


def conv_node(op: str, x_shape, w: np.ndarray, b: np.ndarray | None = None, **attrs) -> Node:
    """A Conv/ConvTranspose node over input shape `x_shape` with constant weight (and bias);
    missing attributes get ONNX defaults."""
    nd = len(x_shape) - 2
    attrs = {"strides": (1,) * nd, "pads": (0,) * 2 * nd, "dilations": (1,) * nd, "group": 1,
             **({"output_padding": (0,) * nd} if op == "ConvTranspose" else {}), **attrs}
    ins = [Value("x", tuple(x_shape), "float32"), Value("w", w.shape, "float32", w)]
    if b is not None:
        ins.append(Value("b", b.shape, "float32", b))
    (t,) = infer_types(op, ins, attrs)
    return Node(op, tuple(ins), (Value("y", t.shape, t.dtype),), attrs, "conv")


# epilogue name -> the ops fused after the conv, as in the models (Clip: ReLU6)
EPILOGUES = {"": (), "relu": ("Relu",), "add_relu": ("Add", "Relu"), "clip": ("Clip",),
             "add": ("Add",)}
CLIP = (0.0, 6.0)


def has_residual(epilogue: str) -> bool:
    return "Add" in EPILOGUES[epilogue]


def reference(node: Node, x: np.ndarray, epilogue: str = "", residual=None) -> np.ndarray:
    y = run_op(node.op, [x] + [v.data for v in node.inputs[1:]], node.attrs)[0]
    numpy_ops = {"Add": lambda y: y + residual, "Relu": lambda y: np.maximum(y, 0),
                 "Clip": lambda y: np.clip(y, *CLIP)}
    for op in EPILOGUES[epilogue]:
        y = numpy_ops[op](y)
    return y


def _epilogue(y: te.Tensor, epilogue: str):
    """The epilogue's stages over y, as the lowering builds fused epilogue stages; (result,
    the residual placeholder R of an Add or None)."""
    r = te.placeholder(y.shape, "float32", "residual") if has_residual(epilogue) else None
    te_ops = {"Add": lambda t, i: t[i] + r[i], "Relu": lambda t, i: te.max(t[i], 0.0),
              "Clip": lambda t, i: te.min(te.max(t[i], CLIP[0]), CLIP[1])}
    for op in EPILOGUES[epilogue]:
        y = te.compute(y.shape, lambda *i, t=y, f=te_ops[op]: f(t, i), name=op.lower())
    return y, r


def build_conv(node: Node, template=None, config=None, target="llvm", epilogue: str = ""):
    """(kernel, args): kernel(x, *args[1:], out) computes `node` (+ epilogue). `template`
    None uses the generic compute with its stages at root, unscheduled."""
    from tensorforge.compiler.topi import conv as topi_conv
    consts = {k: v.data for k, v in enumerate(node.inputs) if v.data is not None}
    if template is not None:
        config = config or template.default(node, target)
        if template.pack is not None:
            consts.update(template.pack(node, config))
    shapes = [consts[k].shape if k in consts else v.shape for k, v in enumerate(node.inputs)]
    holders = [te.placeholder(tuple(s), "float32", f"in{k}") for k, s in enumerate(shapes)]
    if template is None:
        fn = topi_conv.conv if node.op == "Conv" else topi_conv.conv_transpose
        anchor = fn(node, holders)
    else:
        anchor = template.compute(node, holders, config)
    out, residual = _epilogue(anchor, epilogue)
    if template is None:
        s = te.create_schedule([out])
    else:
        s = template.schedule([out], anchor, config, target)
    params = holders + ([residual] if residual is not None else []) + [out]
    kernel = build(te.lower(s, params, "conv"), target)
    return kernel, [consts.get(k) for k in range(len(node.inputs))]


def run_conv(node: Node, x: np.ndarray, template=None, config=None, epilogue: str = "",
             residual=None) -> np.ndarray:
    kernel, consts = build_conv(node, template, config, epilogue=epilogue)
    out = np.empty(node.outputs[0].shape, np.float32)
    extra = [residual] if has_residual(epilogue) else []
    kernel(x, *consts[1:], *extra, out)
    return out
