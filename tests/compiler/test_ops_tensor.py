"""Shape-manipulation ops against ONNX Runtime: every attribute, the opset variants that
changed each op between opsets 9 and 21, and the compile-time resolution of shape operands."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra.numpy import array_shapes
from onnx import TensorProto, helper, numpy_helper

from oracle import check_model, check_op, make_model, single_op_model
from tensorforge.compiler import (InputError, ShapeError, UnsupportedModelError, evaluate,
                                  from_onnx)
from tensorforge.compiler.ops import OPS, Pattern, TensorType, infer_types

INT64_MAX, INT64_MIN, INT32_MAX = 2**63 - 1, -2**63, 2**31 - 1
DTYPES = ["float32", "int64", "bool", "float16"]


def arange(shape, dtype="float32"):
    """Distinct values (for bool: alternating), so a misplaced element is always seen."""
    values = np.arange(math.prod(shape)).reshape(shape)
    return (values % 2 == 1) if dtype == "bool" else values.astype(dtype)


def i64(values):
    return np.array(values, dtype=np.int64)


shapes = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
shapes_with_zero = array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)
dtypes = st.sampled_from(DTYPES)


def convert(op_type, inputs, initializers=None, opset=17, n_outputs=1, input_order=None,
            **attrs):
    """TensorForge's IR for one node, also where ONNX shape inference cannot type the output
    (a bad node): the checker then gets a placeholder type, which from_onnx ignores."""
    model = single_op_model(op_type, inputs, n_outputs, initializers, opset, input_order,
                            **attrs)
    for out in model.graph.output:
        out.type.tensor_type.shape.SetInParent()
        out.type.tensor_type.elem_type = out.type.tensor_type.elem_type or TensorProto.FLOAT
    return from_onnx(model)


# -- Reshape, Flatten, Squeeze, Unsqueeze ---------------------------------------------------

@given(st.data(), shapes_with_zero, dtypes, st.sampled_from([9, 13, 14, 21]))
def test_reshape(data, shape, dtype, opset):
    total = math.prod(shape)
    target = list(data.draw(st.permutations(shape))) + [1] * data.draw(st.integers(0, 1))
    allowzero = data.draw(st.sampled_from([0, 1])) if opset >= 14 else None
    copies = data.draw(st.sets(st.integers(0, len(target) - 1), max_size=2))
    if not allowzero:  # then 0 copies the input's dim: a literal 0 must be a copy too
        assume(all(i < len(shape) and shape[i] == 0 for i, d in enumerate(target) if d == 0))
        for i in copies:
            if i < len(shape) and shape[i] == target[i]:
                target[i] = 0
    if total and data.draw(st.booleans()):
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    check_op("Reshape", {"x": arange(shape, dtype)}, initializers={"shape": i64(target)},
          opset=opset, **attrs)


def test_reshape_allowzero_keeps_zero():
    check_op("Reshape", {"x": arange((0, 3))}, initializers={"shape": i64([3, 0])}, opset=14,
          allowzero=1)


@given(shapes, st.data(), st.sampled_from([9, 11, 13, 21]))
def test_flatten(shape, data, opset):
    rank = len(shape)
    axis = data.draw(st.integers(-rank if opset >= 11 else 0, rank))
    check_op("Flatten", {"x": arange(shape)}, opset=opset, axis=axis)


def test_flatten_default_axis():
    check_op("Flatten", {"x": arange((2, 3, 4))})


def _size1_axes(data, shape, negative):
    ones = [i for i, d in enumerate(shape) if d == 1]
    axes = data.draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    return [a - len(shape) if negative and data.draw(st.booleans()) else a for a in axes]


@given(st.data(), array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3),
       st.sampled_from([9, 11, 13, 21]))
def test_squeeze(data, shape, opset):
    axes = _size1_axes(data, shape, opset >= 11) if data.draw(st.booleans()) else None
    x = {"x": arange(shape, "int64")}
    if opset < 13:  # an attribute cannot be an empty list
        axes = axes or None
        check_op("Squeeze", x, opset=opset, **({} if axes is None else {"axes": axes}))
    elif axes is None:
        check_op("Squeeze", x, opset=opset)
    else:
        check_op("Squeeze", x, initializers={"axes": i64(axes)}, opset=opset)


@given(st.data(), shapes, st.sampled_from([9, 11, 13, 21]))
def test_unsqueeze(data, shape, opset):
    out_rank = len(shape) + data.draw(st.integers(1, 2))
    axes = data.draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - len(shape),
                              max_size=out_rank - len(shape), unique=True))
    if opset >= 11:
        axes = [a - out_rank if data.draw(st.booleans()) else a for a in axes]
    x = {"x": arange(shape, "float16")}
    if opset < 13:
        check_op("Unsqueeze", x, opset=opset, axes=axes)
    else:
        check_op("Unsqueeze", x, initializers={"axes": i64(axes)}, opset=opset)


# -- Transpose, Concat, Split ---------------------------------------------------------------

@given(st.data(), shapes, dtypes, st.sampled_from([9, 13, 21]))
def test_transpose(data, shape, dtype, opset):
    perm = data.draw(st.none() | st.permutations(range(len(shape))))
    attrs = {} if perm is None else {"perm": list(perm)}
    check_op("Transpose", {"x": arange(shape, dtype)}, opset=opset, **attrs)


@given(st.data(), shapes_with_zero, dtypes, st.sampled_from([9, 11, 13]))
def test_concat(data, shape, dtype, opset):
    rank = len(shape)
    axis = data.draw(st.integers(-rank if opset >= 11 else 0, rank - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    inputs = {}
    for i, n in enumerate(sizes):
        s = list(shape)
        s[axis] = n
        inputs[f"x{i}"] = arange(s, dtype) + (0 if dtype == "bool" else i * 100)
    check_op("Concat", inputs, opset=opset, axis=axis)


@given(st.data(), shapes, st.sampled_from([9, 11, 13, 18]))
def test_split_sizes(data, shape, opset):
    axis = data.draw(st.integers(-len(shape) if opset >= 11 else 0, len(shape) - 1))
    dim, sizes = shape[axis], []
    while sum(sizes) < dim:
        sizes.append(data.draw(st.integers(1 if opset < 13 else 0, dim - sum(sizes))))
    x = {"x": arange(shape)}
    if opset < 13:
        check_op("Split", x, len(sizes), opset=opset, axis=axis, split=sizes)
    else:
        check_op("Split", x, len(sizes), initializers={"split": i64(sizes)}, opset=opset,
              axis=axis)


@given(st.integers(1, 4), st.integers(1, 3), st.sampled_from([9, 11, 13]))
def test_split_equal(parts, width, opset):
    check_op("Split", {"x": arange((2, parts * width))}, parts, opset=opset, axis=1)


@given(st.integers(1, 9), st.data())
def test_split_num_outputs_uneven(dim, data):
    n = data.draw(st.integers(1, dim).filter(lambda n: dim - -(-dim // n) * (n - 1) >= 0))
    check_op("Split", {"x": arange((dim, 2), "int64")}, n, opset=18, num_outputs=n)


# -- Slice ----------------------------------------------------------------------------------

bounds = st.integers(-6, 6) | st.sampled_from([INT64_MAX, INT64_MIN, INT32_MAX])


@given(st.data(), shapes_with_zero, st.sampled_from([10, 11, 13, 21]))
def test_slice(data, shape, opset):
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, unique=True))
    if opset >= 11:
        axes = [a - rank if data.draw(st.booleans()) else a for a in axes]
    n = len(axes)
    starts, ends = (data.draw(st.lists(bounds, min_size=n, max_size=n)) for _ in "se")
    steps = data.draw(st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=n, max_size=n))
    inits = {"starts": i64(starts), "ends": i64(ends)}
    omit = data.draw(st.sampled_from(["", "steps", "axes+steps"]))
    if omit != "axes+steps":
        inits["axes"] = i64(axes)
    if not omit:
        inits["steps"] = i64(steps)
    if omit == "axes+steps" and sorted(axes) != list(range(n)):
        inits["axes"] = i64(axes)  # without axes the slice covers the first n axes
    check_op("Slice", {"x": arange(shape)}, initializers=inits, opset=opset)


@given(st.data(), shapes)
def test_slice_opset9_attributes(data, shape):
    rank = len(shape)  # sorted axes: ONNX cannot infer Slice-1's shape for others
    axes = data.draw(st.none() | st.sets(st.integers(0, rank - 1), min_size=1).map(sorted))
    n = rank if axes is None else len(axes)
    starts, ends = (data.draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
                    for _ in "se")
    attrs = {} if axes is None else {"axes": axes}
    check_op("Slice", {"x": arange(shape, "int64")}, opset=9, starts=starts, ends=ends, **attrs)


def test_slice_bounds_grid():
    """Every mix of start, end and step, clamping and sentinels included, on axes of size
    0, 1 and 4: one model with a Slice node per case."""
    values = [-6, -4, -1, 0, 1, 3, 5, INT64_MIN, INT64_MAX, INT32_MAX]
    cases = [(s, e, t) for s in values for e in values for t in (-3, -1, 1, 2)]
    for dim in (0, 1, 4):
        x = arange((dim, 2))
        nodes, inits = [], {}
        for i, (s, e, t) in enumerate(cases):
            inits.update({f"s{i}": i64([s]), f"e{i}": i64([e]), f"t{i}": i64([t])})
            nodes.append(helper.make_node("Slice", ["x", f"s{i}", f"e{i}", "axis", f"t{i}"],
                                          [f"y{i}"]))
        model = make_model(nodes, {"x": x}, [f"y{i}" for i in range(len(cases))],
                           {**inits, "axis": i64([0])})
        check_model(model, {"x": x})


def test_slice_attributes_are_normalized():
    g = convert("Slice", {"x": arange((5, 4))}, {"s": i64([INT64_MAX, -9]), "e": i64(
        [INT64_MIN, 3]), "a": i64([1, 0]), "t": i64([-1, 2])})
    (node,) = g.nodes
    assert dict(node.attrs) == {"axes": (0, 1), "starts": (0, 3), "ends": (3, -1),
                                "steps": (2, -1)}


# -- Gather ---------------------------------------------------------------------------------

@given(st.data(), shapes, dtypes, st.sampled_from([9, 11, 13]))
def test_gather_constant_indices(data, shape, dtype, opset):
    axis = data.draw(st.integers(-len(shape) if opset >= 11 else 0, len(shape) - 1))
    n = shape[axis]
    idx_shape = data.draw(array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    low = -n if opset >= 11 else 0
    indices = data.draw(st.lists(st.integers(low, n - 1), min_size=math.prod(idx_shape),
                                 max_size=math.prod(idx_shape)))
    index_dtype = data.draw(st.sampled_from(["int32", "int64"]))
    check_op("Gather", {"x": arange(shape, dtype)},
          initializers={"i": np.array(indices, index_dtype).reshape(idx_shape)},
          opset=opset, axis=axis)


def test_gather_indices_as_graph_input():
    """Embedding lookups index a weight table with the model's input ids."""
    table = arange((7, 3))
    ids = np.array([[0, 6, -1, 3]], dtype=np.int64)
    check_op("Gather", {"ids": ids}, initializers={"table": table},
          input_order=["table", "ids"])
    g = convert("Gather", {"ids": ids}, {"table": table}, input_order=["table", "ids"])
    assert g.nodes[0].inputs[1] is g.inputs[0]


# -- Expand, Tile, Pad ----------------------------------------------------------------------

@given(st.data(), shapes, dtypes, st.sampled_from([9, 13]))
def test_expand(data, shape, dtype, opset):
    x_shape = tuple(d if data.draw(st.booleans()) else 1 for d in shape)
    x_shape = x_shape[data.draw(st.integers(0, len(shape) - 1)):]
    target = [1 if d == x and data.draw(st.booleans()) else d for d, x in
              zip(shape[-len(x_shape):], x_shape)]
    target = list(shape[:len(shape) - len(x_shape)]) + target
    if data.draw(st.booleans()):  # a lower-rank shape broadcasts against the input
        target = target[len(shape) - len(x_shape):]
    check_op("Expand", {"x": arange(x_shape, dtype)}, initializers={"shape": i64(target)},
          opset=opset)


@given(st.data(), shapes, dtypes, st.sampled_from([9, 13]))
def test_tile(data, shape, dtype, opset):
    repeats = data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape)))
    check_op("Tile", {"x": arange(shape, dtype)}, initializers={"r": i64(repeats)},
          opset=opset)


def _pads(data, shape, mode, n_axes):
    """Pads valid for `mode` (reflect needs pad < size; negative pads crop first)."""
    shape = list(shape)
    begin = [data.draw(st.integers(-1 if s > 2 else 0, 3)) for s in shape[:n_axes]]
    end = [data.draw(st.integers(-1 if s > 2 else 0, 3)) for s in shape[:n_axes]]
    if mode == "reflect":
        kept = [s + min(b, 0) + min(e, 0) for s, b, e in zip(shape, begin, end)]
        begin = [min(b, k - 1) for b, k in zip(begin, kept)]
        end = [min(e, k - 1) for e, k in zip(end, kept)]
    return begin + end


pad_shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@given(st.data(), pad_shapes, st.sampled_from(["constant", "reflect", "edge"]))
def test_pad_opset9_attributes(data, shape, mode):
    pads = _pads(data, shape, mode, len(shape))
    value = data.draw(st.sampled_from([0.0, 1.5, -2.0]))
    check_op("Pad", {"x": arange(shape)}, opset=9, mode=mode, pads=pads, value=value)


@given(st.data(), pad_shapes, st.sampled_from(["float32", "int64"]),
       st.sampled_from([11, 13, 18, 19, 21]))
def test_pad(data, shape, dtype, opset):
    modes = ["constant", "reflect", "edge"] + (["wrap"] if opset >= 19 else [])
    mode = data.draw(st.sampled_from(modes))
    rank = len(shape)
    axes = None
    if opset >= 18 and data.draw(st.booleans()):
        axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                                  unique_by=lambda a: a % rank))
    padded = list(range(rank)) if axes is None else [a % rank for a in axes]
    pads = _pads(data, [shape[a] for a in padded], mode, len(padded))
    inits, order = {"pads": i64(pads)}, ["x", "pads"]
    if mode == "constant" and data.draw(st.booleans()):
        inits["value"] = np.array(7, dtype)
        order.append("value")
    if axes is not None:
        inits["axes"] = i64(axes)
        order += [""] * (3 - len(order)) + ["axes"]
    check_op("Pad", {"x": arange(shape, dtype)}, initializers=inits, opset=opset,
          input_order=order, mode=mode)


# -- shape sources --------------------------------------------------------------------------

@given(shapes_with_zero, st.data(), st.sampled_from([9, 15, 21]))
def test_shape(shape, data, opset):
    attrs = {}
    if opset >= 15:
        for key in ("start", "end"):
            if data.draw(st.booleans()):
                attrs[key] = data.draw(st.integers(-5, 5))
    check_op("Shape", {"x": arange(shape)}, opset=opset, **attrs)


@given(shapes_with_zero, st.sampled_from([9, 13, 21]))
def test_size(shape, opset):
    check_op("Size", {"x": arange(shape, "bool")}, opset=opset)


@given(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       st.sampled_from([None, np.float32(2.5), np.int64(-3), np.int32(7), np.float16(1.5)]),
       st.sampled_from([9, 20, 21]))
def test_constant_of_shape(shape, value, opset):
    attrs = {} if value is None else {"value": numpy_helper.from_array(np.array([value]))}
    check_op("ConstantOfShape", {}, initializers={"shape": i64(shape)}, opset=opset, **attrs)


CONSTANTS = [  # (attributes, dtype of the constant, opset)
    ({"value": numpy_helper.from_array(arange((2, 3)))}, "float32", 9),
    ({"value": numpy_helper.from_array(arange((2, 3), "int64"))}, "int64", 13),
    ({"value_float": 2.5}, "float32", 12),
    ({"value_floats": [1.0, -2.0, 3.5]}, "float32", 13),
    ({"value_int": 4}, "int64", 12),
    ({"value_ints": [1, 2, 3]}, "int64", 21),
]


@pytest.mark.parametrize("attrs,dtype,opset", CONSTANTS)
def test_constant(attrs, dtype, opset):
    """Constant -> Reshape([-1]) -> Concat with an input: compared through real nodes, and
    the Constant itself leaves no node."""
    x = np.full(2, 9, dtype)
    nodes = [helper.make_node("Constant", [], ["c"], **attrs),
             helper.make_node("Reshape", ["c", "flat"], ["c1"]),
             helper.make_node("Concat", ["x", "c1"], ["y"], axis=0)]
    model = make_model(nodes, {"x": x}, ["y"], {"flat": i64([-1])}, opset=opset)
    check_model(model, {"x": x})
    assert [n.op for n in from_onnx(model).nodes] == ["Reshape", "Concat"]


@given(st.sampled_from([(0, 10, 3), (5, -4, -2), (3, 3, 1), (-2, 7, 4), (10, 0, 1)]),
       st.sampled_from(["int64", "int32", "float32", "float64"]), st.sampled_from([11, 21]))
def test_range(args, dtype, opset):
    if dtype.startswith("float"):
        args = (args[0] + 0.25, args[1], args[2] * 0.7)
    inits = {k: np.array(v, dtype) for k, v in zip(("start", "limit", "delta"), args)}
    check_op("Range", {}, initializers=inits, opset=opset)


# -- shape chains resolve at import ---------------------------------------------------------

def test_shape_chain_resolves_reshape():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write `x.view(b, -1)`:
    the IR Reshape gets the resolved shape as an attribute and reads only x."""
    x = arange((2, 3, 4))
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["b1"]),
        helper.make_node("Concat", ["b1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"zero": i64(0), "axes0": i64([0]), "minus1": i64([-1])}
    model = make_model(nodes, {"x": x}, ["y"], inits, opset=17)
    check_model(model, {"x": x})
    g = from_onnx(model)
    reshape = g.nodes[-1]
    assert reshape.op == "Reshape" and dict(reshape.attrs) == {"shape": (2, 12)}
    assert reshape.inputs == (g.inputs[0],)
    chain = [n for n in g.nodes if n is not reshape]
    assert not any(n.outputs[0] in reshape.inputs for n in chain)  # left dead for DCE


def test_shape_chain_feeds_expand_slice_and_constant_of_shape():
    x = arange((3, 4))
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], start=-1),
        helper.make_node("ConstantOfShape", ["s"], ["ones"],
                         value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("Expand", ["ones", "full"], ["e"]),
        helper.make_node("Shape", ["x"], ["s0"], end=1),
        helper.make_node("Slice", ["x", "zero", "s0", "zero"], ["sl"]),
        helper.make_node("Concat", ["e", "sl"], ["y"], axis=0),
    ]
    model = make_model(nodes, {"x": x}, ["y"], {"full": i64([3, 4]), "zero": i64([0])},
                       opset=17)
    check_model(model, {"x": x})
    g = from_onnx(model)
    assert {n.op: dict(n.attrs) for n in g.nodes}["Expand"] == {"shape": (3, 4)}


# -- errors ---------------------------------------------------------------------------------

ERRORS = [
    ("Reshape", {"x": arange((2, 3))}, {"shape": i64([4, 2])}, {}, "[2, 3]"),
    ("Reshape", {"x": arange((2, 3))}, {"shape": i64([-1, -1])}, {}, "one -1"),
    ("Reshape", {"x": arange((2, 3))}, {"shape": i64([4, -1])}, {}, "whole number"),
    ("Squeeze", {"x": arange((2, 1))}, {"axes": i64([0])}, {}, "size 1"),
    ("Unsqueeze", {"x": arange((2,))}, {"axes": i64([0, 0])}, {}, "repeat"),
    ("Transpose", {"x": arange((2, 3))}, {}, {"perm": [0, 0]}, "permutation"),
    ("Gather", {"x": arange((2, 3))}, {"i": i64([0])}, {"axis": 2}, "out of range"),
    ("Gather", {"x": arange((2, 3))}, {"i": i64([0, 3])}, {"axis": 1}, "[-3, 2]"),
    ("Tile", {"x": arange((2, 3))}, {"r": i64([2])}, {}, "expected 2"),
    ("Expand", {"x": arange((2, 3))}, {"s": i64([4, 3])}, {}, "broadcast"),
    ("Slice", {"x": arange((2, 3))}, {"s": i64([0]), "e": i64([1]), "a": i64([0]),
                                      "t": i64([0])}, {}, "step"),
    ("Pad", {"x": arange((2, 3))}, {"p": i64([0, 3, 0, 0])}, {"mode": "reflect"}, "reflect"),
    ("Pad", {"x": arange((2, 3))}, {"p": i64([0, 1, 0, 0])}, {"mode": "wrap"}, "opset 17"),
    ("Flatten", {"x": arange((2, 3))}, {}, {"axis": 3}, "out of range"),
    ("Range", {"n": i64(4)}, {"a": i64(0), "d": i64(1)}, {}, "known at compile time"),
]


@pytest.mark.parametrize("op,inputs,inits,attrs,message", ERRORS)
def test_bad_shapes_and_attributes_are_shape_errors(op, inputs, inits, attrs, message):
    with pytest.raises(ShapeError, match=r"\w+_node\b.*" + message.replace("[", r"\[")):
        convert(op, inputs, inits, **attrs)


def test_concat_mismatched_dims():
    with pytest.raises(ShapeError, match=r"\[2, 3\] and \[2, 4\]"):
        convert("Concat", {"a": arange((2, 3)), "b": arange((2, 4))}, axis=0)


def test_split_sizes_must_sum_to_the_axis():
    with pytest.raises(ShapeError, match="sum to 4"):
        convert("Split", {"x": arange((5,))}, {"s": i64([2, 2])}, n_outputs=2)


def test_split_num_outputs_leaving_a_negative_chunk():
    with pytest.raises(ShapeError, match="negative last chunk"):
        convert("Split", {"x": arange((5,))}, n_outputs=4, opset=18, num_outputs=4)


def test_shape_operand_depending_on_input_data():
    with pytest.raises(ShapeError, match="shape %s must be known at compile time"):
        convert("Reshape", {"x": arange((2, 3)), "s": i64([3, 2])})


def test_sparse_constant_is_unsupported():
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.ones(1, np.float32)),
                                       numpy_helper.from_array(i64([0])), [3])
    node = helper.make_node("Constant", [], ["c"], sparse_value=sparse)
    model = make_model([node, helper.make_node("Size", ["c"], ["n"])], {}, ["n"])
    with pytest.raises(UnsupportedModelError, match="sparse"):
        from_onnx(model)


def test_gather_out_of_range_runtime_index():
    g = convert("Gather", {"ids": i64([5])}, {"t": arange((3, 2))}, input_order=["t", "ids"])
    with pytest.raises(InputError, match=r"\[-3, 2\]"):
        evaluate(g, {"ids": i64([5])})


def test_ir_infer_validates_directly():
    x = TensorType((2, 3), "float32")
    with pytest.raises(ShapeError, match=r"\[2, 3\] \(6 elements\) to \[7\]"):
        infer_types("Reshape", [x], {"shape": (7,)})
    with pytest.raises(ShapeError, match="not normalized"):
        infer_types("Slice", [x], {"starts": (-1,), "ends": (2,), "axes": (1,), "steps": (1,)})
    with pytest.raises(ShapeError, match="out of range"):
        infer_types("Concat", [x, x], {"axis": 2})


def test_patterns():
    injective = {"Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "Expand",
                 "Tile", "Pad"}
    assert all(OPS[op].pattern == Pattern.INJECTIVE for op in injective)
    assert all(OPS[op].pattern == Pattern.OPAQUE
               for op in ("Shape", "Size", "Range", "ConstantOfShape"))
