"""Elementwise and broadcast ops against ONNX Runtime: every op, the dtypes ORT runs it in,
broadcasting shapes, every attribute, and the opsets where the op changed."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import helper

import tensorforge
from oracle import (TensorProto, assert_close, check_model, check_op, single_op_model,
                    tensor_info)
from tensorforge.compiler import ShapeError, UnsupportedModelError, from_onnx
from tensorforge.compiler.ops import Pattern, get_op

FLOATS = ["float16", "float32", "float64"]
INTS = ["int32", "int64"]

# ORT's CPU kernels for these exist in float32 only (float16 runs through inserted Casts).
ORT_FLOAT32_ONLY = frozenset({"Erf", "Softsign", "Softplus", "HardSwish", "LeakyRelu", "Elu",
                              "Selu", "HardSigmoid", "ThresholdedRelu", "Gelu", "Mean"})
# (op, dtype) -> the opsets (first, last) where ORT has a kernel for it, when narrower than
# the op's own.
ORT_DTYPE_OPSETS = {
    **{("Clip", d): (12, 21) for d in ["float64", *INTS]},
    **{("PRelu", d): (16, 18) for d in ["float64", *INTS]},
    **{(op, d): (12, 21) for op in ("Max", "Min", "Pow") for d in INTS},
    **{("Equal", d): (11, 21) for d in FLOATS},
    ("Relu", "int32"): (14, 21),
    ("IsInf", "float16"): (20, 21),
}


def float_dtypes(op):
    return ["float16", "float32"] if op in ORT_FLOAT32_ONLY else FLOATS


def opsets(since, *more, last=21):
    """Opsets to try: the op's first supported one, the usual breakpoints, and the newest."""
    return st.sampled_from(sorted(o for o in {max(since, 9), 13, 17, 21, *more}
                                  if since <= o <= last))


def ort_opset(draw, op, dtype, since, *more):
    """An opset where the op exists and ORT runs it in `dtype`."""
    first, last = ORT_DTYPE_OPSETS.get((op, dtype), (since, 21))
    return draw(opsets(max(since, first), *more, last=last))


def elements(dtype, lo=-4.0, hi=4.0):
    if dtype == "bool":
        return st.booleans()
    if np.dtype(dtype).kind in "iu":
        return st.integers(int(lo) if np.dtype(dtype).kind == "i" else max(int(lo), 0), int(hi))
    width = {"float16": 16, "float32": 32}.get(dtype, 64)
    return st.floats(lo, hi, width=width, allow_subnormal=False)


def arrays(dtype, shape, lo=-4.0, hi=4.0, elems=None):
    return hnp.arrays(np.dtype(dtype), shape,
                      elements=elements(dtype, lo, hi) if elems is None else elems)


def nonzero(dtype, lo=0.25, hi=6.0):
    """Divisors: values of either sign, away from zero."""
    return elements(dtype, lo, hi) | elements(dtype, -hi, -lo)


small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def broadcast(n):
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=4, max_side=4)


def feeds(draw, dtypes, shapes, elems=None):
    return {f"x{i}": draw(arrays(dt, s, elems=elems)) for i, (dt, s) in
            enumerate(zip(dtypes, shapes))}


# -- unary ------------------------------------------------------------------------------------

POSITIVE = (0.0625, 9.0)
UNARY_FLOAT = {  # op -> (first opset, input range)
    "Sigmoid": (6, (-20.0, 20.0)), "Tanh": (6, (-6.0, 6.0)), "Erf": (9, (-4.0, 4.0)),
    "Exp": (6, (-10.0, 10.0)), "Sqrt": (6, POSITIVE), "Log": (6, POSITIVE),
    "Reciprocal": (6, POSITIVE), "Neg": (6, (-4.0, 4.0)), "Abs": (6, (-4.0, 4.0)),
    "Floor": (6, (-4.0, 4.0)), "Ceil": (6, (-4.0, 4.0)), "Round": (11, (-4.0, 4.0)),
    "Relu": (6, (-4.0, 4.0)), "Softsign": (1, (-4.0, 4.0)), "Softplus": (1, (-20.0, 20.0)),
    "Sin": (7, (-7.0, 7.0)), "Cos": (7, (-7.0, 7.0)), "Sign": (9, (-2.0, 2.0)),
    "Identity": (1, (-4.0, 4.0)), "HardSwish": (14, (-5.0, 5.0)),
}


@pytest.mark.parametrize("op", sorted(UNARY_FLOAT))
@given(data=st.data(), shape=small_shapes)
def test_unary_float(op, data, shape):
    since, (lo, hi) = UNARY_FLOAT[op]
    dtype = data.draw(st.sampled_from(float_dtypes(op)))
    x = data.draw(arrays(dtype, shape, lo, hi))
    check_op(op, {"x": x}, opset=ort_opset(data.draw, op, dtype, since))


def test_round_halves_to_even():
    check_op("Round", {"x": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)}, opset=11)


@pytest.mark.parametrize("op,dtypes", [("Relu", ["int32"]), ("Neg", INTS + ["int8"]),
                                        ("Abs", INTS + ["int8"]), ("Sign", INTS + ["int8"])])
@given(data=st.data(), shape=small_shapes)
def test_unary_signed_int(op, dtypes, data, shape):
    dtype = data.draw(st.sampled_from(dtypes))
    check_op(op, {"x": data.draw(arrays(dtype, shape, -100, 100))},
             opset=ort_opset(data.draw, op, dtype, 9))


ACTIVATION_ATTRS = {  # op -> (first opset, attribute strategies)
    "LeakyRelu": (6, {"alpha": st.floats(-1, 2)}),
    "Elu": (6, {"alpha": st.floats(0, 3)}),
    "Selu": (6, {"alpha": st.floats(0.5, 3), "gamma": st.floats(0.5, 3)}),
    "HardSigmoid": (6, {"alpha": st.floats(-1, 1), "beta": st.floats(-1, 1)}),
    "ThresholdedRelu": (10, {"alpha": st.floats(-2, 2)}),
    "Gelu": (20, {"approximate": st.sampled_from(["none", "tanh"])}),
}


@pytest.mark.parametrize("op", sorted(ACTIVATION_ATTRS))
@given(data=st.data(), shape=small_shapes)
def test_activation_attributes(op, data, shape):
    """Each attribute either given (any value in range) or left to its default."""
    since, attr_strategies = ACTIVATION_ATTRS[op]
    attrs = {k: data.draw(s) for k, s in attr_strategies.items() if data.draw(st.booleans())}
    dtype = data.draw(st.sampled_from(float_dtypes(op)))
    check_op(op, {"x": data.draw(arrays(dtype, shape, -5, 5))},
             opset=data.draw(opsets(since)), **attrs)


SPECIALS = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.0])


@pytest.mark.parametrize("op,since", [("IsNaN", 9), ("IsInf", 10)])
@given(data=st.data(), shape=small_shapes)
def test_nan_inf_predicates(op, since, data, shape):
    attrs = {}
    if op == "IsInf":
        attrs = {k: data.draw(st.sampled_from([0, 1]))
                 for k in ("detect_negative", "detect_positive") if data.draw(st.booleans())}
    dtype = data.draw(st.sampled_from(FLOATS))
    x = data.draw(arrays(dtype, shape, elems=SPECIALS))
    check_op(op, {"x": x}, opset=ort_opset(data.draw, op, dtype, since), **attrs)


# -- binary and variadic broadcasting ---------------------------------------------------------

def binary_feeds(draw, dtype, divisor=False):
    """Two broadcastable operands in [-20, 20]; a divisor stays away from zero."""
    shapes = draw(broadcast(2)).input_shapes
    b_elems = nonzero(dtype, 1 if "int" in dtype else 0.25, 20) if divisor else None
    return {"a": draw(arrays(dtype, shapes[0], -20, 20)),
            "b": draw(arrays(dtype, shapes[1], -20, 20, b_elems))}


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS))
def test_arithmetic_broadcasts(op, data, dtype):
    """Integer Div truncates toward zero (7 / -2 == -3), as ORT does."""
    check_op(op, binary_feeds(data.draw, dtype, divisor=op == "Div"),
             opset=data.draw(opsets(7, 14)))


@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS), fmod=st.sampled_from([0, 1]))
def test_mod_both_sign_conventions(data, dtype, fmod):
    fmod = 1 if "float" in dtype else fmod
    check_op("Mod", binary_feeds(data.draw, dtype, divisor=True), opset=data.draw(opsets(10)),
             fmod=fmod)


@given(data=st.data(), base=st.sampled_from(FLOATS + INTS),
       exponent=st.sampled_from(FLOATS + INTS))
def test_pow_mixed_dtypes_base_wins(data, base, exponent):
    """Integer results go through double and truncate. Negative bases only with integer
    exponents (a fractional power of one is NaN, which has no integer value)."""
    shapes = data.draw(broadcast(2)).input_shapes
    a = data.draw(arrays(base, shapes[0], -5 if "int" in exponent else 0, 5))
    b = data.draw(arrays(exponent, shapes[1], 0, 4))
    since = 12 if base != exponent else 7  # mixed dtypes from opset 12
    check_op("Pow", {"a": a, "b": b}, opset=ort_opset(data.draw, "Pow", base, since, 15))


def test_integer_pow_with_negative_exponent_truncates():
    a = np.array([2, 1, -1, 5, -3], np.int32)
    b = np.array([-1, -3, -3, -2, 3], np.int32)
    check_op("Pow", {"a": a, "b": b}, opset=13)


COMPARISONS = {"Equal": 11, "Less": 9, "Greater": 9, "LessOrEqual": 12, "GreaterOrEqual": 12}


@pytest.mark.parametrize("op", sorted(COMPARISONS))
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS))
def test_comparisons(op, data, dtype):
    """Few distinct values, so equal elements are common."""
    shapes = data.draw(broadcast(2)).input_shapes
    inputs = feeds(data.draw, [dtype] * 2, shapes, elements(dtype, -2, 2).map(round))
    check_op(op, inputs, opset=ort_opset(data.draw, op, dtype, COMPARISONS[op]))


@pytest.mark.parametrize("op", ["And", "Or", "Xor", "Equal"])
@given(data=st.data())
def test_logical(op, data):
    shapes = data.draw(broadcast(2)).input_shapes
    check_op(op, feeds(data.draw, ["bool"] * 2, shapes), opset=data.draw(opsets(11)))


@given(data=st.data(), shape=small_shapes)
def test_not(data, shape):
    check_op("Not", {"x": data.draw(arrays("bool", shape))}, opset=data.draw(opsets(1)))


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@given(data=st.data(), n=st.integers(1, 4))
def test_variadic_broadcasts(op, data, n):
    dtypes = float_dtypes(op) + (INTS if op in {"Max", "Min"} else [])
    dtype = data.draw(st.sampled_from(dtypes))
    shapes = data.draw(broadcast(n)).input_shapes
    check_op(op, feeds(data.draw, [dtype] * n, shapes, elements(dtype, -9, 9)),
             opset=ort_opset(data.draw, op, dtype, 8))


@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS + ["uint8"]))
def test_where(data, dtype):
    shapes = data.draw(broadcast(3)).input_shapes
    inputs = {"c": data.draw(arrays("bool", shapes[0])), **feeds(data.draw, [dtype] * 2,
                                                                  shapes[1:])}
    check_op("Where", inputs, opset=data.draw(opsets(9, 16)))


@st.composite
def prelu_shapes(draw):
    """A slope shape that broadcasts to x's: a suffix of x's shape with some dims set to 1."""
    x = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    rank = draw(st.integers(0, len(x)))
    return x, tuple(d if draw(st.booleans()) else 1 for d in x[len(x) - rank:])


@given(data=st.data(), shapes=prelu_shapes(), dtype=st.sampled_from(FLOATS + INTS))
def test_prelu_slope_broadcasts_to_input(data, shapes, dtype):
    x = data.draw(arrays(dtype, shapes[0], -9, 9))
    slope = data.draw(arrays(dtype, shapes[1], -2, 2))
    check_op("PRelu", {"x": x, "slope": slope}, opset=ort_opset(data.draw, "PRelu", dtype, 9))


# -- Clip -------------------------------------------------------------------------------------

@given(data=st.data(), shape=small_shapes, bounds=st.lists(st.floats(-3, 3), min_size=2,
                                                          max_size=2).map(sorted),
       given_=st.tuples(st.booleans(), st.booleans()))
def test_clip_bounds_as_attributes_before_opset_11(data, shape, bounds, given_):
    """ORT refuses min > max here (the inputs form below allows it)."""
    attrs = {k: v for k, v, g in zip(("min", "max"), bounds, given_) if g}
    check_op("Clip", {"x": data.draw(arrays("float32", shape))},
             opset=data.draw(st.sampled_from([9, 10])), **attrs)


@given(data=st.data(), shape=small_shapes, dtype=st.sampled_from(FLOATS + INTS),
       bounds=st.tuples(*[st.sampled_from(["absent", "const", "input"])] * 2))
def test_clip_bounds_as_inputs(data, shape, dtype, bounds):
    """Constant bounds (min > max included) become attributes; bounds fed as graph inputs
    become Max/Min."""
    inputs, inits, order = {"x": data.draw(arrays(dtype, shape))}, {}, ["x"]
    for name, how in zip(("lo", "hi"), bounds):
        value = data.draw(arrays(dtype, (), -3, 3))
        {"const": inits, "input": inputs}.get(how, {})[name] = value
        order.append("" if how == "absent" else name)
    check_op("Clip", inputs, initializers=inits, input_order=order,
             opset=ort_opset(data.draw, "Clip", dtype, 11))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("bound", ["", "min", "max"])
def test_clip_absent_bound_is_the_finite_limit(dtype, bound):
    """An absent bound is numeric_limits::lowest() / max(), not an infinity: ONNX Runtime
    clips -inf to -65504 in float16 (found by the fuzzer: Clip of a ReduceMax over nothing).
    The reference executor and compiled modules at opt_level 0 and 3, against ORT."""
    x = np.array([-np.inf, np.inf, np.nan, 1, -3], dtype)
    inits = {bound: np.array(0.5, dtype)} if bound else {}
    order = ["x", "min" if bound == "min" else "", "max" if bound == "max" else ""]
    model = single_op_model("Clip", {"x": x}, initializers=inits, input_order=order)
    (want,) = check_model(model, {"x": x})
    for level in (0, 3):
        (got,) = tensorforge.compile(model, opt_level=level).run(x=x)
        assert_close(got, want, f"opt_level {level}")


# -- Cast, Identity, Dropout ------------------------------------------------------------------

CAST_DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]


@given(data=st.data(), src=st.sampled_from(CAST_DTYPES), dst=st.sampled_from(CAST_DTYPES),
       shape=small_shapes)
def test_cast_between_dtypes(data, src, dst, shape):
    """Fractions truncate toward zero; nonzero is True; values stay in every type's range."""
    lo = 0 if "uint" in src + dst else -100
    x = data.draw(arrays(src, shape, lo, 100))
    to = TensorProto.DataType.Value({"float16": "FLOAT16", "float32": "FLOAT",
                                     "float64": "DOUBLE"}.get(dst, dst.upper()))
    check_op("Cast", {"x": x}, opset=data.draw(opsets(9, 19)), to=to)


@given(data=st.data(), src=st.sampled_from(FLOATS + INTS), dst=st.sampled_from(FLOATS + INTS))
def test_cast_like(data, src, dst):
    x = data.draw(arrays(src, (2, 3), -50, 50))
    check_op("CastLike", {"x": x}, initializers={"t": np.zeros((1,), dst)},
             opset=data.draw(opsets(15)))


@given(data=st.data(), dtype=st.sampled_from(CAST_DTYPES), shape=small_shapes)
def test_identity(data, dtype, shape):
    check_op("Identity", {"x": data.draw(arrays(dtype, shape))}, opset=data.draw(opsets(1)))


def declared_model(op, inputs, out_dtypes, opset=17, **attrs):
    """A one-node model whose outputs are declared (the first input's shape) instead of
    inferred by ONNX, which leaves them untyped where it cannot infer them (shapes that do
    not broadcast, Dropout-7 masks)."""
    outs = [f"y{i}" for i in range(len(out_dtypes))]
    node = helper.make_node(op, list(inputs), outs, name=f"{op.lower()}_node", **attrs)
    graph = helper.make_graph([node], "test", [tensor_info(k, a.shape, a.dtype)
                                               for k, a in inputs.items()],
                              [tensor_info(o, next(iter(inputs.values())).shape, dt)
                               for o, dt in zip(outs, out_dtypes)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("opset", [9, 10, 12, 13, 21])
@pytest.mark.parametrize("mask", [False, True])
def test_dropout_is_identity_with_constant_mask(opset, mask):
    """The mask is what ORT returns: zeros at opset 9, False at 10-11, True from 12."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    if opset < 12:
        mask_dtype = "float32" if opset < 10 else "bool"
        model = declared_model("Dropout", {"x": x}, ["float32", mask_dtype][:1 + mask],
                               opset=opset, ratio=0.3)
        check_model(model, {"x": x})
    else:
        check_op("Dropout", {"x": x}, n_outputs=1 + mask, opset=opset,
                 initializers={"ratio": np.float32(0.3), "training": np.bool_(False)})


@given(st.data(), st.sampled_from([12, 13, 22]), st.sampled_from(["float32", "float64"]),
       st.booleans())
def test_dropout_in_training_mode_with_ratio_0_is_identity(data, opset, dtype, mask):
    """training_mode true and ratio 0 drop nothing: the identity, every mask element True."""
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3),
                             elements=st.floats(-4, 4, width=32)))
    check_op("Dropout", {"x": x}, n_outputs=1 + mask, opset=opset,
             initializers={"ratio": np.array(0, dtype), "t": np.bool_(True)})


@pytest.mark.parametrize("ratio", [None, 0.25])
def test_random_dropout_is_refused_naming_the_node(ratio):
    inits = {"t": np.bool_(True)} if ratio is None else {"r": np.float32(ratio),
                                                          "t": np.bool_(True)}
    model = single_op_model("Dropout", {"x": np.ones((2, 2), np.float32)}, initializers=inits,
                            input_order=["x", "" if ratio is None else "r", "t"], opset=13)
    with pytest.raises(UnsupportedModelError, match="(?s)ratio > 0.*dropout_node"):
        from_onnx(model)


# -- errors and patterns ----------------------------------------------------------------------

def import_error(op, inputs, opset=17, **attrs):
    model = declared_model(op, inputs, ["float32"], opset=opset, **attrs)
    with pytest.raises(ShapeError) as err:
        from_onnx(model)
    return str(err.value)


def test_shapes_that_do_not_broadcast_name_both_shapes():
    msg = import_error("Add", {"a": np.ones((2, 3), np.float32), "b": np.ones((4,), np.float32)})
    assert "add_node" in msg and "[2, 3]" in msg and "[4]" in msg and "broadcast" in msg


def test_prelu_slope_must_broadcast_to_input():
    msg = import_error("PRelu", {"x": np.ones((2, 1), np.float32),
                                 "s": np.ones((2, 3), np.float32)})
    assert "slope shape [2, 3]" in msg and "input shape [2, 1]" in msg


@pytest.mark.parametrize("op,inputs,attrs,expected", [
    ("Add", {"a": np.ones(2, np.float32), "b": np.ones(2, np.int64)}, {},
     "dtypes ['float32', 'int64']"),
    ("And", {"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)}, {}, "dtype float32"),
    ("Sqrt", {"a": np.ones(2, np.int32)}, {}, "dtype int32"),
    ("Mod", {"a": np.ones(2, np.float32), "b": np.ones(2, np.float32)}, {},
     "requires fmod=1 before opset 28"),
    ("Gelu", {"a": np.ones(2, np.float32)}, {"approximate": "erf"}, "approximate='erf'"),
    ("Clip", {"a": np.ones(2, np.bool_)}, {}, "expected a numeric type"),
    ("Where", {"c": np.ones(2, np.float32), "a": np.ones(2, np.float32),
               "b": np.ones(2, np.float32)}, {}, "Where condition has dtype float32"),
])
def test_bad_dtypes_and_attributes_are_shape_errors(op, inputs, attrs, expected):
    msg = import_error(op, inputs, opset=21, **attrs)
    assert expected in msg, msg


def test_clip_bound_must_be_scalar():
    model = single_op_model("Clip", {"x": np.ones(3, np.float32)},
                            initializers={"lo": np.zeros(2, np.float32)}, opset=13)
    with pytest.raises(ShapeError, match=r"Clip min must be a scalar, given shape \[2\]"):
        from_onnx(model)


@pytest.mark.parametrize("op,pattern", [
    ("Relu", Pattern.ELEMWISE), ("Gelu", Pattern.ELEMWISE), ("Cast", Pattern.ELEMWISE),
    ("Clip", Pattern.ELEMWISE), ("Identity", Pattern.ELEMWISE), ("Add", Pattern.BROADCAST),
    ("Where", Pattern.BROADCAST), ("PRelu", Pattern.BROADCAST), ("Pow", Pattern.BROADCAST),
    ("Max", Pattern.BROADCAST), ("Equal", Pattern.BROADCAST),
])
def test_fusion_patterns(op, pattern):
    assert get_op(op).pattern is pattern


def ir_nodes(op, inputs, initializers=None, opset=17, **attrs):
    graph = from_onnx(single_op_model(op, inputs, initializers=initializers, opset=opset,
                                      **attrs))
    return [(n.op, dict(n.attrs)) for n in graph.nodes]


def test_static_parameters_become_attributes():
    x = {"x": np.ones(3, np.float32)}
    bounds = {"lo": np.float32(-1), "hi": np.float32(2)}
    assert ir_nodes("Clip", x, bounds, opset=13) == [("Clip", {"min": -1.0, "max": 2.0})]
    lowest = float(np.finfo(np.float32).min)
    assert ir_nodes("Clip", x, opset=13) == [("Clip", {"min": lowest, "max": -lowest})]
    assert ir_nodes("Cast", x, to=TensorProto.INT64) == [("Cast", {"to": "int64"})]
    assert ir_nodes("Dropout", x, opset=13) == [("Identity", {})]
    assert ir_nodes("LeakyRelu", x) == [("LeakyRelu", {"alpha": 0.01})]
    assert ir_nodes("Clip", {**x, "lo": bounds["lo"]}, opset=13) == [("Max", {})]
