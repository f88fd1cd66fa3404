"""float16 end to end: compiled kernels (half in memory, float32 arithmetic) against ONNX
Runtime at oracle.TOLERANCE["float16"], and Cast bit-exact against NumPy, on the host target
and on one without F16C (where LLVM calls libgcc's conversion helpers)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

import tensorforge
from oracle import assert_close, make_model, run_ort, single_op_model
from tensorforge import codegen
from tensorforge.codegen import Target
from tensorforge.compiler import GraphBuilder, from_onnx, optimize, tir
from tensorforge.compiler.float16 import widen_float16
from tensorforge.compiler.lower import lower_graph
from tensorforge.compiler.tir_simplify import fold_constants

HALF = np.float16
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9)


def halves(shape, lo=-4.0, hi=4.0):
    return hnp.arrays(HALF, shape, elements=st.floats(lo, hi, width=16))


def compiled_matches_ort(model, feeds):
    """Compile `model`, run it on `feeds` and compare every output with ONNX Runtime."""
    mod = tensorforge.compile(model)
    for k, (got, want) in enumerate(zip(mod.run(**feeds), run_ort(model, feeds), strict=True)):
        assert_close(got, want, f"output {k}")
    return mod


UNARY = {"Exp": (-8, 8), "Tanh": (-5, 5), "Sigmoid": (-10, 10), "Erf": (-3, 3), "Relu": (-4, 4),
         "Softplus": (-10, 10), "Sqrt": (0.0625, 9), "Log": (0.0625, 9),
         "Reciprocal": (0.25, 6), "Floor": (-4, 4), "Round": (-4, 4), "Sin": (-6, 6)}


@pytest.mark.parametrize("op", sorted(UNARY))
@given(data=st.data(), shape=shapes)
def test_unary(op, data, shape):
    x = data.draw(halves(shape, *UNARY[op]))
    compiled_matches_ort(single_op_model(op, {"x": x}), {"x": x})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"])
@given(data=st.data(),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                max_side=6))
def test_binary_broadcast(op, data, shapes):
    lo = 0.25 if op in ("Div", "Pow") else -4.0  # Div: no division by ~0; Pow: real results
    a, b = (data.draw(halves(s, lo, 4.0)) for s in shapes.input_shapes)
    compiled_matches_ort(single_op_model(op, {"a": a, "b": b}), {"a": a, "b": b})


@given(x=halves((5, 7)))
def test_chain_rounds_each_op_and_fuses_into_one_half_kernel(x):
    """Exp -> Mul -> Add -> Tanh: one kernel, half in and out, each op rounded as ORT does."""
    nodes = [helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Mul", ["e", "s"], ["m"]),
             helper.make_node("Add", ["m", "x"], ["a"]), helper.make_node("Tanh", ["a"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"s": np.array(0.3, HALF)})
    compiled_matches_ort(model, {"x": x})
    (kernel,) = lower_graph(optimize(from_onnx(model)), Target.parse("llvm"))
    assert [b.dtype for b in kernel.func.params] == ["float16", "float16"]


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                "ReduceL2"])
@given(data=st.data(), shape=shapes)
def test_reduce(op, data, shape):
    x = data.draw(halves(shape))
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                              max_size=len(shape), unique_by=lambda a: a % len(shape)))
    keepdims = data.draw(st.sampled_from([0, 1]))
    model = single_op_model(op, {"x": x}, initializers={"axes": np.array(axes, np.int64)},
                            opset=18, keepdims=keepdims)
    compiled_matches_ort(model, {"x": x})


def test_reduce_sum_accumulates_in_float32():
    """4096 ones sum to 4096 (a float16 accumulator stops at 2048)."""
    x = np.ones((3, 4096), HALF)
    model = single_op_model("ReduceSum", {"x": x}, initializers={"axes": np.array([1])},
                            opset=18)
    (y,) = compiled_matches_ort(model, {"x": x}).run(x=x)
    np.testing.assert_array_equal(y, np.full((3, 1), 4096, HALF))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@given(data=st.data(), shape=shapes)
def test_softmax(op, data, shape):
    x = data.draw(halves(shape, -8, 8))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    compiled_matches_ort(single_op_model(op, {"x": x}, opset=13, axis=axis), {"x": x})


def test_softmax_statistics_stay_in_the_row_loop():
    """The Cast to half after softmax is a row stage too: max, exp buffer, sum and output run
    in one parallel row loop, as for float32 (not three loops, exp computed twice)."""
    x = np.ones((512, 256), HALF)
    model = single_op_model("Softmax", {"x": x}, opset=13, axis=-1)
    (kernel,) = lower_graph(optimize(from_onnx(model)), Target.parse("llvm"))
    text = str(kernel.func)
    assert text.count("parallel") == 1 and text.count("exp(") == 1


@given(data=st.data(), batch=st.sampled_from([(), (2,), (2, 3)]),
       mkn=st.tuples(*[st.integers(1, 40)] * 3), const_b=st.booleans())
@settings(max_examples=8)  # each shape compiles a dense kernel (seconds)
def test_matmul(data, batch, mkn, const_b):
    """Inputs in [-1, 1]: sums of K products stay well inside half's range; a constant B takes
    the dense template's packed path."""
    m, k, n = mkn
    a = data.draw(halves(batch + (m, k), -1, 1))
    b = data.draw(halves((k, n), -1, 1))
    feeds = {"a": a} if const_b else {"a": a, "b": b}
    model = single_op_model("MatMul", feeds, initializers={"b": b} if const_b else None,
                            input_order=["a", "b"])
    compiled_matches_ort(model, feeds)


def test_matmul_accumulates_in_float32():
    a, b = np.ones((2, 4096), HALF), np.full((4096, 3), 0.5, HALF)
    (y,) = compiled_matches_ort(single_op_model("MatMul", {"a": a, "b": b}),
                                {"a": a, "b": b}).run(a=a, b=b)
    np.testing.assert_array_equal(y, np.full((2, 3), 2048, HALF))


@pytest.mark.skipif("f16c" not in Target.parse("llvm").features, reason="host without F16C")
def test_dense_converts_splats_of_half_operands():
    """The dense kernel broadcasts each element of A as half and converts the vector
    (vpbroadcastw + vcvtph2ps): converting the scalar reads it through vpinsrw, which waits on
    the last write of its register, a GEMM accumulator (2.8x slower at 256x512x512)."""
    a, b = np.ones((64, 128), HALF), np.ones((128, 64), HALF)
    model = single_op_model("MatMul", {"a": a}, initializers={"b": b}, input_order=["a", "b"])
    (kernel,) = lower_graph(optimize(from_onnx(model)), Target.parse("llvm"))
    asm = codegen.build(kernel.func, Target.parse("llvm")).source("asm")
    assert "vpbroadcastw" in asm and "vpinsrw" not in asm


@given(x=halves((1, 3, 9, 9), -1, 1), w=halves((4, 3, 3, 3), -1, 1))
@settings(max_examples=5)
def test_conv_with_bias_and_relu(x, w):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"w": w, "b": np.linspace(-1, 1, 4).astype(HALF)})
    compiled_matches_ort(model, {"x": x})


# -- Cast: exact, like NumPy ------------------------------------------------------------------

ONNX_TYPE = {"float16": TensorProto.FLOAT16, "float32": TensorProto.FLOAT,
             "float64": TensorProto.DOUBLE}


# Exactly representable in float32: round-to-even ties (1 + 2^-11 lies halfway between two
# halves), the edge of overflow (65520 rounds to inf, just below it to 65504), subnormals.
NARROWING_CASES = [1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 65504.0, 65520.0, 65520 - 2.0 ** -8,
                   2.0 ** -25, 2.0 ** -24, 3 * 2.0 ** -25, 2.0 ** -26, -0.0, np.inf, np.nan]


def assert_same_floats(got, want):
    """Equal bit for bit, but any NaN matches any NaN (payloads may differ)."""
    assert got.dtype == want.dtype
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(f"u{got.itemsize}"),
                                  want[~nan].view(f"u{want.itemsize}"))


def cast_model(src, dst, n):
    node = helper.make_node("Cast", ["x"], ["y"], to=ONNX_TYPE[dst])
    return make_model([node], {"x": np.zeros(n, src)}, ["y"])


TARGETS = ["llvm", "llvm -mcpu=x86-64"]  # the host (F16C here), and x86-64 without F16C


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dst", ["float32", "float64"])
def test_cast_widens_every_half_exactly(dst, target):
    x = np.arange(1 << 16, dtype=np.uint16).view(HALF)
    (y,) = tensorforge.compile(cast_model("float16", dst, x.size), target=target).run(x=x)
    assert_same_floats(y, x.astype(dst))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("src", ["float32", "float64"])
def test_cast_narrows_to_half_like_numpy(src, target):
    n = 64
    mod = tensorforge.compile(cast_model(src, "float16", n), target=target)
    cases = st.sampled_from(NARROWING_CASES + [-v for v in NARROWING_CASES])

    @given(x=hnp.arrays(src, n, elements=st.floats(width=np.dtype(src).itemsize * 8) | cases))
    def check(x):
        (y,) = mod.run(x=x)
        with np.errstate(over="ignore"):
            assert_same_floats(y, x.astype(HALF))

    check()


def test_target_without_f16c_calls_libgcc_helpers():
    """x86-64 has no F16C: LLVM leaves half <-> float to __extendhfsf2/__truncsfhf2, which
    the JIT finds in libgcc (the cast test above runs this code)."""
    mod = tensorforge.compile(cast_model("float32", "float16", 8), target="llvm -mcpu=x86-64")
    asm = mod.source("asm")
    assert "__truncsfhf2" in asm and "vcvtps2ph" not in asm


def test_folded_cast_to_float16_rounds():
    """Constant folding in loop IR rounds a narrowing Cast as the Cast would (0.1 is not a
    float16: its nearest is 0.0999755859375)."""
    folded = fold_constants(tir.Cast("float16", tir.Const(0.1, "float32")), {})
    assert folded == tir.Const(float(np.float16(0.1)), "float16")
    assert fold_constants(tir.Cast("float16", tir.Const(1e5, "float32")), {}).value == np.inf


# -- the rewrite itself -----------------------------------------------------------------------

def test_widen_float16_casts_around_arithmetic_only():
    b = GraphBuilder()
    x = b.input("x", (4, 3), "float16")
    t = b.emit1("Transpose", [x], {"perm": (1, 0)})
    y = b.emit1("Mul", [t, b.const(np.full((3, 4), 2, HALF), "two")])
    body = widen_float16(b.build([y]))
    assert [n.op for n in body.nodes] == ["Transpose", "Cast", "Mul", "Cast"]
    mul = body.nodes[2]
    assert [v.dtype for v in mul.inputs + mul.outputs] == ["float32"] * 3
    assert body.outputs[0].name == y.name and body.outputs[0].dtype == "float16"


def test_widen_float16_leaves_other_dtypes_alone():
    b = GraphBuilder()
    x = b.input("x", (4,), "float32")
    body = b.build([b.emit1("Exp", [x])])
    assert widen_float16(body) is body
