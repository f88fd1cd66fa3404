"""Converters for neural-network ONNX ops: convolutions, normalizations, pools, LRN and
depth/space shuffles (Resize is in `resize.py`, imported at the end).

Window attributes are resolved here: missing strides/dilations become ones, auto_pad
(SAME_UPPER, SAME_LOWER, VALID) becomes explicit pads, ConvTranspose's output_shape becomes
pads and output_padding, so the IR ops always carry every attribute explicitly.
"""

from __future__ import annotations

import numpy as np
from onnx.helper import tensor_dtype_to_np_dtype

from ..errors import ShapeError, UnsupportedModelError
from ..ops import infer_types
from ..ops.registry import normalize_axis
from ..ops.window import same_pads, span
from .registry import converter

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def unsupported(node, reason: str) -> UnsupportedModelError:
    return UnsupportedModelError([(node.op_type, node.opset, node.name)], reason)


def _ints(node, key: str, default: int, n: int) -> tuple[int, ...]:
    """Attribute `key` as a tuple of `n` ints (`default` repeated when absent)."""
    value = tuple(int(v) for v in node.attr(key, (default,) * n))
    if len(value) != n:
        raise ShapeError(f"{node.where}: {key} {list(value)} has {len(value)} entries; "
                         f"expected {n}")
    return value


def _kernel(node, weight_kernel=None) -> tuple[int, ...]:
    """kernel_shape from the attribute (onnx.checker requires it on pools), or from the
    weight's shape (convolutions)."""
    given = node.attr("kernel_shape")
    if given is None:
        return tuple(weight_kernel)
    given = tuple(int(k) for k in given)
    if weight_kernel is not None and given != tuple(weight_kernel):
        raise ShapeError(f"{node.where}: kernel_shape {list(given)} does not match the weight's "
                         f"spatial shape {list(weight_kernel)}")
    return given


def _auto_pad(node) -> str:
    mode = node.attr("auto_pad", "NOTSET")
    if mode not in AUTO_PADS:
        raise ShapeError(f"{node.where}: auto_pad {mode!r} is not one of {list(AUTO_PADS)}")
    return mode


def window_attrs(node, sizes, kernel, dilated_same: bool = True) -> dict:
    """strides, pads and dilations with auto_pad resolved (Conv and the pools). Pools size
    SAME padding for the undilated kernel (`dilated_same=False`), as ONNX Runtime does."""
    nd = len(kernel)
    strides = _ints(node, "strides", 1, nd)
    dilations = _ints(node, "dilations", 1, nd)
    mode = _auto_pad(node)
    if mode.startswith("SAME"):
        pads = same_pads(sizes, kernel, strides, dilations if dilated_same else (1,) * nd,
                         upper=mode == "SAME_UPPER")
    else:
        pads = _ints(node, "pads", 0, 2 * nd) if mode == "NOTSET" else (0,) * (2 * nd)
    return {"strides": strides, "pads": pads, "dilations": dilations}


def _operands(*values):
    """Tensor operands without the omitted optional ones."""
    return [v for v in values if v is not None]


# -- convolutions ---------------------------------------------------------------------------

@converter("Conv", since=1)
def convert_conv(ctx, node):
    x, w, b = node.input(0), node.input(1), node.input(2)
    kernel = _kernel(node, w.shape[2:])
    attrs = window_attrs(node, x.shape[2:], kernel)
    return ctx.emit1("Conv", _operands(x, w, b), {**attrs, "group": node.attr("group", 1)})


def _pads_for_output(node, target, sizes, kernel, strides, dilations, output_padding):
    """ConvTranspose pads (and extra end rows) that give spatial output `target`: the total
    padding splits with the odd one at the end under SAME_UPPER, else at the beginning (ONNX's
    rule, which ONNX Runtime follows); a negative total (a target beyond the kernel's reach)
    becomes extra output rows, zeros plus bias at the end."""
    if len(target) != len(kernel):
        raise ShapeError(f"{node.where}: output_shape {list(target)} needs {len(kernel)} "
                         "spatial dims")
    totals = [s * (n - 1) + p + span(k, d) - t for n, s, p, k, d, t in
              zip(sizes, strides, output_padding, kernel, dilations, target)]
    upper = node.attr("auto_pad") == "SAME_UPPER"
    begin = [max(t, 0) // 2 if upper else max(t, 0) - max(t, 0) // 2 for t in totals]
    end = [max(t, 0) - b for t, b in zip(totals, begin)]
    return tuple(begin) + tuple(end), tuple(max(-t, 0) for t in totals)


@converter("ConvTranspose", since=1)
def convert_conv_transpose(ctx, node):
    """output_shape, or auto_pad SAME_* (which asks for input * stride but, as in ONNX
    Runtime, never grows the output beyond the kernel's reach), becomes pads."""
    x, w, b = node.input(0), node.input(1), node.input(2)
    kernel = _kernel(node, w.shape[2:])
    nd, sizes = len(kernel), x.shape[2:]
    strides = _ints(node, "strides", 1, nd)
    dilations = _ints(node, "dilations", 1, nd)
    output_padding = _ints(node, "output_padding", 0, nd)
    mode = _auto_pad(node)
    given = node.attr("output_shape")
    if given is not None:
        pads, extra = _pads_for_output(node, tuple(int(t) for t in given)[-nd:], sizes, kernel,
                                       strides, dilations, output_padding)
        output_padding = tuple(p + e for p, e in zip(output_padding, extra))
    elif mode.startswith("SAME"):
        pads, _ = _pads_for_output(node, tuple(n * s for n, s in zip(sizes, strides)), sizes,
                                   kernel, strides, dilations, output_padding)
    else:
        pads = _ints(node, "pads", 0, 2 * nd) if mode == "NOTSET" else (0,) * (2 * nd)
    attrs = {"strides": strides, "pads": pads, "dilations": dilations,
             "group": node.attr("group", 1), "output_padding": output_padding}
    return ctx.emit1("ConvTranspose", _operands(x, w, b), attrs)


# -- normalizations -------------------------------------------------------------------------

@converter("BatchNormalization", since=9)
def convert_batch_norm(ctx, node):
    """Inference with the given statistics. The statistics outputs are refused: before
    opset 14 they mean its older training mode, from 14 on they need training_mode=1."""
    if any(node.outputs[1:]):
        raise unsupported(node, "BatchNormalization's statistics outputs are supported only "
                                "with training_mode=1 (opset 14+)")
    return ctx.emit1("BatchNormalization", node.inputs[:5],
                     {"epsilon": float(node.attr("epsilon", 1e-5))})


@converter("BatchNormalization", since=14)
def convert_batch_norm_14(ctx, node):
    """training_mode=1 normalizes with the batch's statistics (mean and population variance
    over every axis but the channels) and outputs the running statistics
    input * momentum + batch * (1 - momentum), written out in IR ops: reductions and
    broadcast arithmetic, which fusion and lowering already handle."""
    if not node.attr("training_mode", 0):
        return convert_batch_norm(ctx, node)
    x, scale, b, mean, var = node.inputs[:5]
    rank, dt = len(x.shape), x.dtype
    if rank < 2:
        raise ShapeError(f"{node.where}: input has shape {list(x.shape)}; expected (N, C, ...)")
    axes = (0,) + tuple(range(2, rank))

    def per_channel(v, dtype):  # (C,) -> (C, 1, ...) in `dtype`, to broadcast against x
        v = v if v.dtype == dtype else ctx.emit1("Cast", [v], {"to": dtype})
        return ctx.emit1("Reshape", [v], {"shape": (v.shape[0],) + (1,) * (rank - 2)})

    def running(given, batch):  # given * momentum + batch * (1 - momentum), given's dtype
        batch = ctx.emit1("Reshape", [batch], {"shape": given.shape})
        if batch.dtype != given.dtype:
            batch = ctx.emit1("Cast", [batch], {"to": given.dtype})
        momentum = float(node.attr("momentum", np.float32(0.9)))  # a float32 attribute
        kept = ctx.emit1("Mul", [given, ctx.const(momentum, given.dtype)])
        return ctx.emit1("Add", [kept, ctx.emit1("Mul", [batch, ctx.const(1 - momentum,
                                                                         given.dtype)])])

    batch_mean = ctx.emit1("ReduceMean", [x], {"axes": axes, "keepdims": 1})
    centered = ctx.emit1("Sub", [x, batch_mean])
    batch_var = ctx.emit1("ReduceMean", [ctx.emit1("Mul", [centered, centered])],
                          {"axes": axes, "keepdims": 1})
    std = ctx.emit1("Sqrt", [ctx.emit1("Add", [batch_var, ctx.const(
        float(node.attr("epsilon", 1e-5)), dt)])])
    inv = ctx.emit1("Div", [per_channel(scale, dt), std])
    y = ctx.emit1("Add", [ctx.emit1("Mul", [centered, inv]), per_channel(b, dt)])
    return y, running(mean, batch_mean), running(var, batch_var)


@converter("InstanceNormalization", since=1)
def convert_instance_norm(ctx, node):
    return ctx.emit1("InstanceNormalization", node.inputs[:3],
                     {"epsilon": float(node.attr("epsilon", 1e-5))})


@converter("LayerNormalization", since=17)
def convert_layer_norm(ctx, node):
    """The Mean and InvStdDev outputs, when requested, come out in stash_type's dtype."""
    x = node.input(0)
    attrs = {"axis": normalize_axis(node.attr("axis", -1), len(x.shape)),
             "epsilon": float(node.attr("epsilon", 1e-5))}
    operands = _operands(x, node.input(1), node.input(2))
    if not any(node.outputs[1:]):
        return ctx.emit1("LayerNormalization", operands, attrs)
    stash = node.attr("stash_type", 1)
    try:
        attrs["stats_dtype"] = str(tensor_dtype_to_np_dtype(stash))
    except KeyError:
        raise ShapeError(f"{node.where}: stash_type {stash} is not a tensor element type") from None
    return ctx.emit("LayerNormalization", operands, attrs)


@converter("LRN", since=1)
def convert_lrn(ctx, node):
    return ctx.emit1("LRN", [node.input(0)], {
        "size": int(node.attr("size")), "alpha": float(node.attr("alpha", 1e-4)),
        "beta": float(node.attr("beta", 0.75)), "bias": float(node.attr("bias", 1.0))})


# -- pools ----------------------------------------------------------------------------------

def _pool_attrs(node) -> dict:
    x = node.input(0)
    kernel = _kernel(node)
    return {"kernel_shape": kernel, **window_attrs(node, x.shape[2:], kernel, False),
            "ceil_mode": int(node.attr("ceil_mode", 0))}


@converter("MaxPool", since=1)
def convert_max_pool(ctx, node):
    """With the Indices output (opset 8+) asked for, both outputs come from one
    MaxPoolWithIndices (ONNX Runtime's scan for both, see ops/pool_indices.py)."""
    if len(node.outputs) > 1 and node.outputs[1]:
        return ctx.emit("MaxPoolWithIndices", [node.input(0)], {
            **_pool_attrs(node), "storage_order": int(node.attr("storage_order", 0))})
    return ctx.emit1("MaxPool", [node.input(0)], _pool_attrs(node))


@converter("AveragePool", since=1)
def convert_average_pool(ctx, node):
    return ctx.emit1("AveragePool", [node.input(0)], {
        **_pool_attrs(node), "count_include_pad": int(node.attr("count_include_pad", 0))})


@converter("LpPool", since=1)
def convert_lp_pool(ctx, node):
    return ctx.emit1("LpPool", [node.input(0)], {**_pool_attrs(node), "p": int(node.attr("p", 2))})


@converter("GlobalAveragePool", "GlobalMaxPool", since=1)
def convert_global_pool(ctx, node):
    return ctx.emit1(node.op_type, [node.input(0)])


@converter("GlobalLpPool", since=1)
def convert_global_lp_pool(ctx, node):
    return ctx.emit1("GlobalLpPool", [node.input(0)], {"p": int(node.attr("p", 2))})


# -- depth/space ----------------------------------------------------------------------------

@converter("DepthToSpace", since=1)
def convert_depth_to_space(ctx, node):
    return ctx.emit1("DepthToSpace", [node.input(0)],
                     {"blocksize": int(node.attr("blocksize")), "mode": node.attr("mode", "DCR")})


@converter("SpaceToDepth", since=1)
def convert_space_to_depth(ctx, node):
    return ctx.emit1("SpaceToDepth", [node.input(0)], {"blocksize": int(node.attr("blocksize"))})


@converter("SpaceToDepth", since=28)
def convert_space_to_depth_28(ctx, node):
    """Opset 28 adds `mode`: DCR (the default, the IR op's order) stacks the blocks as
    (block_h, block_w, C); CRD as (C, block_h, block_w), a reshape-transpose-reshape:

        (N, C, H, W) -> (N, C, H/b, b, W/b, b) -> (N, C, b, b, H/b, W/b) -> (N, C*b*b, H/b, W/b)
    """
    mode = node.attr("mode", "DCR")
    if mode == "DCR":
        return convert_space_to_depth(ctx, node)
    if mode != "CRD":
        raise ShapeError(f"{node.where}: mode {mode!r} is not one of ['DCR', 'CRD']")
    x, b = node.input(0), int(node.attr("blocksize"))
    infer_types("SpaceToDepth", [x], {"blocksize": b}, node.where)  # validates shape, blocksize
    n, c, h, w = x.shape
    blocks = ctx.emit1("Reshape", [x], {"shape": (n, c, h // b, b, w // b, b)})
    moved = ctx.emit1("Transpose", [blocks], {"perm": (0, 1, 3, 5, 2, 4)})
    return ctx.emit1("Reshape", [moved], {"shape": (n, c * b * b, h // b, w // b)})
