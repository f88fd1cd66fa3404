"""Converters for ONNX shape-manipulation ops.

Shape-like operands (Reshape's shape, Slice's starts, Pad's pads, ...) are read at import time
with `ctx.value_of`, so the Shape -> Gather -> Unsqueeze -> Concat chains exporters emit to
compute them are left without consumers. Flatten, Squeeze and Unsqueeze become IR Reshape;
Constant becomes a constant value.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from onnx import TensorProto

from ..errors import ShapeError, UnsupportedModelError
from ..graph import Value
from ..ops.registry import broadcast_shapes, normalize_axis
from ..ops.tensor import normalize_slice
from .registry import converter

# Pad modes and the opset that introduced each.
PAD_MODE_SINCE = {"constant": 1, "reflect": 1, "edge": 1, "wrap": 19}

# Constant's attributes: how each becomes an array (value_* attributes arrived in opset 12).
CONSTANT_ATTRS = {
    "value": np.asarray,
    "value_float": lambda v: np.array(v, np.float32),
    "value_floats": lambda v: np.array(v, np.float32),
    "value_int": lambda v: np.array(v, np.int64),
    "value_ints": lambda v: np.array(v, np.int64),
}


def known_ints(ctx, v: Value, what: str) -> tuple[int, ...]:
    """A shape-like operand's compile-time value as a tuple of Python ints."""
    return tuple(int(i) for i in np.asarray(ctx.value_of(v, what)).ravel())


def optional_ints(ctx, node, i: int, what: str) -> tuple[int, ...] | None:
    v = node.input(i)
    return None if v is None else known_ints(ctx, v, what)


def known_scalar(ctx, v: Value, what: str):
    """A one-element operand's compile-time value as a Python scalar."""
    arr = np.asarray(ctx.value_of(v, what))
    if arr.size != 1:
        raise ShapeError(f"{what} must hold one element, given shape {list(arr.shape)}")
    return arr.ravel()[0].item()


def normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    """Non-negative, sorted, unique axes of a rank-`rank` tensor."""
    out = sorted(normalize_axis(a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {list(axes)} repeat an axis")
    return tuple(out)


def reshape(ctx, x: Value, shape: Sequence[int]) -> Value:
    return ctx.emit1("Reshape", [x], {"shape": tuple(shape)})


# -- Reshape, Flatten, Squeeze, Unsqueeze (all IR Reshape) ----------------------------------

def resolve_reshape(shape: Sequence[int], target: Sequence[int], allowzero: int) -> tuple:
    """ONNX Reshape's target -> the output shape: 0 copies the input dim (unless allowzero),
    one -1 takes the remaining elements."""
    if any(d < -1 for d in target) or list(target).count(-1) > 1:
        raise ShapeError(f"Reshape shape {list(target)} may hold only dims >= 0 and one -1")
    if allowzero and 0 in target and -1 in target:
        raise ShapeError(f"Reshape shape {list(target)} with allowzero=1 cannot hold both 0 "
                         "and -1")
    if not allowzero and any(d == 0 and i >= len(shape) for i, d in enumerate(target)):
        raise ShapeError(f"Reshape shape {list(target)} copies (0) a dim beyond the input's "
                         f"rank: {list(shape)}")
    out = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if -1 in out:
        rest = math.prod(d for d in out if d != -1)
        if rest == 0 or math.prod(shape) % rest:
            raise ShapeError(f"cannot reshape {list(shape)} to {list(target)}: the -1 dim is "
                             "not a whole number")
        out[out.index(-1)] = math.prod(shape) // rest
    return tuple(out)


@converter("Reshape", since=5)
def convert_reshape(ctx, node):
    x = node.inputs[0]
    target = known_ints(ctx, node.inputs[1], "shape")
    return reshape(ctx, x, resolve_reshape(x.shape, target, node.attr("allowzero", 0)))


@converter("Flatten", since=1)
def convert_flatten(ctx, node):
    x = node.inputs[0]
    rank, axis = len(x.shape), node.attr("axis", 1)
    if not -rank <= axis <= rank:
        raise ShapeError(f"Flatten axis {axis} is out of range [{-rank}, {rank}]")
    axis = axis + rank if axis < 0 else axis
    return reshape(ctx, x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


def squeeze(ctx, x: Value, axes: Sequence[int] | None) -> Value:
    """Drop the listed size-1 axes (all size-1 axes when `axes` is absent or empty, as ONNX
    Runtime reads an empty axes input)."""
    if not axes:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    axes = normalize_axes(axes, len(x.shape), "Squeeze axes")
    if any(x.shape[a] != 1 for a in axes):
        raise ShapeError(f"Squeeze axes {list(axes)} of input {list(x.shape)} are not all "
                         "size 1")
    return reshape(ctx, x, [d for i, d in enumerate(x.shape) if i not in axes])


def unsqueeze(ctx, x: Value, axes: Sequence[int] | None) -> Value:
    """Insert size-1 axes at the listed positions of the output."""
    if axes is None:
        raise ShapeError("Unsqueeze needs axes")
    axes = normalize_axes(axes, len(x.shape) + len(axes), "Unsqueeze axes")
    dims = iter(x.shape)
    return reshape(ctx, x, [1 if i in axes else next(dims)
                            for i in range(len(x.shape) + len(axes))])


@converter("Squeeze", since=1)
def convert_squeeze_v1(ctx, node):
    return squeeze(ctx, node.inputs[0], node.attr("axes"))


@converter("Squeeze", since=13)
def convert_squeeze_v13(ctx, node):
    return squeeze(ctx, node.inputs[0], optional_ints(ctx, node, 1, "axes"))


@converter("Unsqueeze", since=1)
def convert_unsqueeze_v1(ctx, node):
    return unsqueeze(ctx, node.inputs[0], node.attr("axes"))


@converter("Unsqueeze", since=13)
def convert_unsqueeze_v13(ctx, node):
    return unsqueeze(ctx, node.inputs[0], optional_ints(ctx, node, 1, "axes"))


# -- Transpose, Concat, Split ---------------------------------------------------------------

@converter("Transpose", since=1)
def convert_transpose(ctx, node):
    x = node.inputs[0]
    perm = node.attr("perm", tuple(reversed(range(len(x.shape)))))
    return ctx.emit1("Transpose", [x], {"perm": tuple(perm)})


@converter("Concat", since=1)
def convert_concat(ctx, node):
    xs = [v for v in node.inputs if v is not None]
    if node.attr("axis") is None:
        raise ShapeError("Concat needs the axis attribute")
    axis = normalize_axis(node.attr("axis"), len(xs[0].shape), "Concat axis")
    return ctx.emit1("Concat", xs, {"axis": axis})


def split_sizes(dim: int, n_parts: int, num_outputs: int | None) -> tuple[int, ...]:
    """Sizes of `n_parts` chunks without an explicit split: equal parts, or with num_outputs
    (opset 18) chunks of ceil(dim / n) and a smaller last one."""
    if num_outputs is None:
        if n_parts < 1 or dim % n_parts:
            raise ShapeError(f"Split axis of size {dim} does not divide into {n_parts} equal "
                             "parts; give split sizes")
        return (dim // n_parts,) * n_parts
    chunk = -(-dim // num_outputs)
    last = dim - chunk * (num_outputs - 1)
    if num_outputs < 1 or last < 0:
        raise ShapeError(f"Split num_outputs={num_outputs} on an axis of size {dim} leaves a "
                         "negative last chunk")
    return (chunk,) * (num_outputs - 1) + (last,)


def split(ctx, node, sizes: Sequence[int] | None) -> tuple[Value, ...]:
    x = node.inputs[0]
    axis = normalize_axis(node.attr("axis", 0), len(x.shape), "Split axis")
    num_outputs = node.attr("num_outputs")
    if not sizes:
        sizes = split_sizes(x.shape[axis], len(node.outputs), num_outputs)
    if len(sizes) != len(node.outputs):
        raise ShapeError(f"Split has {len(node.outputs)} outputs but {len(sizes)} sizes "
                         f"{list(sizes)}")
    return ctx.emit("Split", [x], {"axis": axis, "split": tuple(sizes)})


@converter("Split", since=1)
def convert_split_v1(ctx, node):
    return split(ctx, node, node.attr("split"))


@converter("Split", since=13)
def convert_split_v13(ctx, node):
    return split(ctx, node, optional_ints(ctx, node, 1, "split"))


# -- Slice, Gather --------------------------------------------------------------------------

def slice_(ctx, x: Value, starts, ends, axes, steps) -> Value:
    """Emit IR Slice with per-axis bounds normalized (see `normalize_slice`), axes sorted."""
    rank = len(x.shape)
    axes = tuple(range(len(starts))) if axes is None else axes
    steps = (1,) * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"Slice starts {list(starts)}, ends {list(ends)}, axes {list(axes)} "
                         f"and steps {list(steps)} differ in length")
    axes = [normalize_axis(a, rank, "Slice axes") for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"Slice axes {axes} repeat an axis")
    bounds = sorted((a, normalize_slice(x.shape[a], s, e, st))
                    for a, s, e, st in zip(axes, starts, ends, steps))
    attrs = {"axes": tuple(a for a, _ in bounds)}
    for i, key in enumerate(("starts", "ends", "steps")):
        attrs[key] = tuple(b[i] for _, b in bounds)
    return ctx.emit1("Slice", [x], attrs)


@converter("Slice", since=1)
def convert_slice_v1(ctx, node):
    return slice_(ctx, node.inputs[0], node.attr("starts"), node.attr("ends"),
                  node.attr("axes"), None)


@converter("Slice", since=10)
def convert_slice_v10(ctx, node):
    starts, ends, axes, steps = (optional_ints(ctx, node, i, what) for i, what in
                                 ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")))
    return slice_(ctx, node.inputs[0], starts, ends, axes, steps)


@converter("Gather", since=1)
def convert_gather(ctx, node):
    data, indices = node.inputs[:2]
    axis = normalize_axis(node.attr("axis", 0), len(data.shape), "Gather axis")
    if ctx.is_known(indices):
        idx, n = np.asarray(ctx.value_of(indices)), data.shape[axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise ShapeError(f"Gather indices {idx.ravel()[:8].tolist()} fall outside "
                             f"[{-n}, {n - 1}] for axis {axis} of data {list(data.shape)}")
    return ctx.emit1("Gather", [data, indices], {"axis": axis})


# -- Expand, Tile, Pad ----------------------------------------------------------------------

@converter("Expand", since=8)
def convert_expand(ctx, node):
    x = node.inputs[0]
    shape = broadcast_shapes(x.shape, known_ints(ctx, node.inputs[1], "shape"))
    return ctx.emit1("Expand", [x], {"shape": shape})


@converter("Tile", since=6)
def convert_tile(ctx, node):
    return ctx.emit1("Tile", [node.inputs[0]],
                     {"repeats": known_ints(ctx, node.inputs[1], "repeats")})


def pad(ctx, node, pads: Sequence[int], value, axes: Sequence[int] | None) -> Value:
    """Emit IR Pad with pads spread over every axis (`axes` lists the padded ones)."""
    x, mode = node.inputs[0], node.attr("mode", "constant")
    if PAD_MODE_SINCE.get(mode, math.inf) > node.opset:
        known = [m for m, since in PAD_MODE_SINCE.items() if since <= node.opset]
        raise ShapeError(f"Pad mode {mode!r} is not one of {known} at opset {node.opset}")
    rank = len(x.shape)
    axes = [normalize_axis(a, rank, "Pad axes") for a in (range(rank) if axes is None else axes)]
    if len(pads) != 2 * len(axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"Pad pads {list(pads)} need 2 entries per axis of {axes} "
                         f"(input {list(x.shape)})")
    full = [0] * (2 * rank)
    for i, a in enumerate(axes):
        full[a], full[rank + a] = pads[i], pads[len(axes) + i]
    value = np.array(value, dtype=x.dtype).item()
    return ctx.emit1("Pad", [x], {"pads": tuple(full), "mode": mode, "value": value})


@converter("Pad", since=2)
def convert_pad_v2(ctx, node):
    return pad(ctx, node, node.attr("pads"), node.attr("value", 0.0), None)


@converter("Pad", since=11)
def convert_pad_v11(ctx, node):
    value = node.input(2)
    return pad(ctx, node, known_ints(ctx, node.inputs[1], "pads"),
               0 if value is None else known_scalar(ctx, value, "constant_value"),
               optional_ints(ctx, node, 3, "axes"))


# -- shape sources --------------------------------------------------------------------------

@converter("Shape", since=1)
def convert_shape(ctx, node):
    x = node.inputs[0]
    rank = len(x.shape)
    start, end = (min(max(v + rank if v < 0 else v, 0), rank)
                  for v in (node.attr("start", 0), node.attr("end", rank)))
    return ctx.emit1("Shape", [x], {"start": start, "end": max(start, end)})


@converter("Size", since=1)
def convert_size(ctx, node):
    return ctx.emit1("Size", [node.inputs[0]])


@converter("ConstantOfShape", since=9)
def convert_constant_of_shape(ctx, node):
    value = np.asarray(node.attr("value", np.zeros(1, np.float32)))
    if value.size != 1:
        raise ShapeError(f"ConstantOfShape value must hold one element, given shape "
                         f"{list(value.shape)}")
    shape = known_ints(ctx, node.inputs[0], "shape")
    return ctx.emit1("ConstantOfShape", [], {"shape": shape, "value": value.ravel()[0].item(),
                                             "dtype": str(value.dtype)})


@converter("Constant", since=1)
def convert_constant(ctx, node):
    given = [k for k in node.attrs if k in CONSTANT_ATTRS]
    if len(node.attrs) != 1 or len(given) != 1:
        raise UnsupportedModelError(
            [(node.op_type, node.opset, node.name)],
            f"Constant needs exactly one of {sorted(CONSTANT_ATTRS)}; given {sorted(node.attrs)}"
            " (sparse and string constants are not supported)")
    arr = CONSTANT_ATTRS[given[0]](node.attrs[given[0]])
    if arr.dtype.kind not in "biuf":
        raise UnsupportedModelError([(node.op_type, node.opset, node.name)],
                                    f"Constant of dtype {arr.dtype} is not supported")
    return ctx.const(arr, name=node.outputs[0] or "const")


@converter("Range", since=11)
def convert_range(ctx, node):
    start, limit, delta = (known_scalar(ctx, v, what)
                           for v, what in zip(node.inputs, ("start", "limit", "delta")))
    return ctx.emit1("Range", [], {"start": start, "limit": limit, "delta": delta,
                                   "dtype": node.inputs[0].dtype})


# Range-27 stash_type values the IR op matches for float16: it computes start + i * delta in
# float64 and rounds once, as accumulating in float or double does.
RANGE_STASH_TYPES = {TensorProto.FLOAT: "float", TensorProto.DOUBLE: "double"}


@converter("Range", since=27)
def convert_range_27(ctx, node):
    """Opset 27's stash_type is float16's accumulation type (other dtypes ignore it)."""
    stash = node.attr("stash_type", TensorProto.FLOAT)
    if node.inputs[0].dtype == "float16" and stash not in RANGE_STASH_TYPES:
        raise UnsupportedModelError([(node.op_type, node.opset, node.name)],
                                    f"Range stash_type={stash} is not supported for float16; "
                                    f"expected one of {RANGE_STASH_TYPES}")
    return convert_range(ctx, node)
