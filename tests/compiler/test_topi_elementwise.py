"""Elementwise and broadcast ops lowered, built and run against the reference executor."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lower_testing import HOST, check_graph, rand, run_kernel, single
from tensorforge.compiler import GraphBuilder, optimize
from tensorforge.compiler.lower import lower_graph

dims = st.integers(1, 37)
shapes = st.lists(dims, min_size=1, max_size=3).map(tuple)

UNARY = {"Identity": {}, "Relu": {}, "Neg": {}, "Abs": {}, "Sign": {}, "Exp": {}, "Tanh": {},
         "Sin": {}, "Cos": {}, "Erf": {}, "Sigmoid": {}, "Floor": {}, "Ceil": {}, "Round": {},
         "Softsign": {}, "Softplus": {}, "HardSwish": {}, "IsNaN": {},
         "HardSigmoid": {"alpha": 0.2, "beta": 0.5}, "LeakyRelu": {"alpha": 0.1},
         "ThresholdedRelu": {"alpha": 0.3}, "Elu": {"alpha": 1.0},
         "Selu": {"alpha": 1.67, "gamma": 1.05}, "Gelu": {"approximate": "none"},
         "Clip": {"min": -0.5, "max": 0.7}, "Cast": {"to": "int32"},
         "IsInf": {"detect_negative": 1, "detect_positive": 1}}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op):
    single(op, [(3, 21)], UNARY[op], rtol=2e-4, atol=2e-5)


def test_gelu_tanh():
    single("Gelu", [(5, 33)], {"approximate": "tanh"})


@pytest.mark.parametrize("op", ["Sqrt", "Log", "Reciprocal"])
def test_positive_domain_fused(op):
    """abs(x) + 0.5 -> op: one fused elementwise kernel."""
    b = GraphBuilder()
    x = b.input("x", (3, 35), "float32")
    y = b.emit1(op, [b.emit1("Add", [b.emit1("Abs", [x]), b.const(np.float32(0.5))])])
    (k,) = check_graph(b.build([y]), [rand((3, 35))])
    assert k.template == "generic_injective"


@given(shapes, shapes)
def test_binary_broadcast(a, b):
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + a
    b2 = tuple(d if d == e or d == 1 or e == 1 else e for d, e in zip((1,) * (n - len(b)) + b, a2))
    for op in ("Add", "Sub", "Mul", "Div", "Less", "Equal"):
        single(op, [a2, b2[n - len(b):] if len(b) <= n else b2])


@pytest.mark.parametrize("op,attrs", [("Div", {}), ("Mod", {"fmod": 0}), ("Mod", {"fmod": 1}),
                                      ("Add", {}), ("Greater", {}), ("Max", {}), ("Min", {})])
def test_integer_ops(op, attrs):
    shapes_ = [(3, 17), (17,)]
    b = GraphBuilder()
    x, y = b.input("x", shapes_[0], "int32"), b.input("y", shapes_[1], "int32")
    yv = rand(shapes_[1], 1, "int32")
    yv[yv == 0] = 3
    out = b.emit1(op, [x, y], attrs)
    check_graph(b.build([out]), [rand(shapes_[0], 0, "int32"), yv], fuse=False)


def special_floats(dtype):
    """Floats with the IEEE corners: signed zeros, infinities, NaN, subnormals, huge values."""
    width = 32 if dtype == "float32" else 64
    return st.one_of(st.sampled_from([0.0, -0.0, 1.0, -3.0, np.inf, -np.inf, np.nan]),
                     st.floats(width=width), st.floats(-8, 8, width=width))


@given(st.data(), st.sampled_from(["float32", "float64"]), st.sampled_from([0, 1]),
       st.integers(1, 40))
def test_float_mod_is_numpy_bit_for_bit(data, dtype, fmod, n):
    """Float Mod equals np.mod (fmod=0) / np.fmod (fmod=1) exactly, signed zeros and
    NaN included, in vector lanes and the scalar tail."""
    a, b = (np.array(data.draw(st.lists(special_floats(dtype), min_size=n, max_size=n)), dtype)
            for _ in range(2))
    g = GraphBuilder()
    y = g.emit1("Mod", [g.input("a", (n,), dtype), g.input("b", (n,), dtype)], {"fmod": fmod})
    graph = optimize(g.build([y]))
    (kernel,) = lower_graph(graph, HOST)
    (got,) = run_kernel(kernel, dict(zip(graph.inputs, (a, b))))
    with np.errstate(all="ignore"):
        want = np.fmod(a, b) if fmod else np.mod(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    real = ~np.isnan(want)
    np.testing.assert_array_equal(got[real].view(f"int{a.itemsize * 8}"),
                                  want[real].view(f"int{a.itemsize * 8}"))


def test_where_logic_variadic_pow():
    single("Where", [(4, 18), (4, 18), (18,)], dtype=("bool", "float32", "float32"))
    single("And", [(3, 20), (20,)], dtype="bool")
    single("Xor", [(3, 20), (3, 20)], dtype="bool")
    single("Not", [(5,)], dtype="bool")
    single("Sum", [(2, 17), (17,), (2, 1)])
    single("Mean", [(2, 17), (17,), (2, 1)])
    single("Pow", [(3, 9), (9,)], dtype=("int32", "int32"))
    single("PRelu", [(2, 3, 5), (3, 1)])
    single("Cast", [(3, 17)], {"to": "bool"})
    single("Cast", [(3, 17)], {"to": "float32"}, dtype="int64")


def test_scalar_shapes():
    single("Add", [(), ()])
    single("Mul", [(4, 1), ()])
