"""Matrix products and Trilu against ONNX Runtime: MatMul (1-D operands, broadcast batch
dims), Gemm (every attribute, optional and broadcast C, opset 9 vs 11+), Einsum (the
matmul-like forms, traces and diagonals), Trilu (upper, k)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import check_op

from tensorforge.compiler import GraphBuilder, ShapeError
from tensorforge.compiler.ops.linalg import normalize_equation

dims = st.integers(1, 5)


def values(dtype, shape):
    """Floats that are multiples of 1/8, so products and short sums are exact in float32;
    small integers."""
    if np.dtype(dtype).kind == "f":
        return hnp.arrays(dtype, shape, elements=st.integers(-16, 16).map(lambda v: v / 8))
    return hnp.arrays(dtype, shape, elements=st.integers(0 if np.dtype(dtype).kind == "u"
                                                         else -9, 9))


# -- MatMul --------------------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    """Shapes of A and B for every rank 1..4 pairing, batch dims broadcasting (some 1s,
    some missing)."""
    m, k, n = draw(dims), draw(dims), draw(dims)
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    a_batch = tuple(d if draw(st.booleans()) else 1 for d in batch)[draw(st.integers(0, 2)):]
    b_batch = tuple(d if draw(st.booleans()) else 1 for d in batch)[draw(st.integers(0, 2)):]
    a = (k,) if draw(st.booleans()) else (*a_batch, m, k)
    b = (k,) if draw(st.booleans()) else (*b_batch, k, n)
    return a, b


@given(st.data())
def test_matmul(data):
    a_shape, b_shape = data.draw(matmul_shapes())
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64", "uint64"]))
    a, b = data.draw(values(dtype, a_shape)), data.draw(values(dtype, b_shape))
    check_op("MatMul", {"a": a, "b": b}, opset=data.draw(st.sampled_from([9, 13, 21])))


@pytest.mark.parametrize("a_shape, b_shape", [((1, 128, 256), (256, 64)),
                                              ((1, 4, 128, 64), (1, 4, 64, 128))])
def test_matmul_forms_of_bert(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape, np.float32)
    check_op("MatMul", {"a": a}, initializers={"b": rng.standard_normal(b_shape, np.float32)})


def test_matmul_float16_accumulates_in_float32():
    a = np.full((2, 4096), 1.0, np.float16)
    check_op("MatMul", {"a": a, "b": np.full((4096, 3), 0.5, np.float16)})


@pytest.mark.parametrize("a_shape, b_shape, match", [
    ((2, 3), (4, 2), "inner dimensions 3 and 4"),
    ((2, 2, 3), (3, 3, 2), "do not broadcast"),
    ((), (3,), "rank >= 1"),
])
def test_matmul_shape_errors(a_shape, b_shape, match):
    b = GraphBuilder()
    x, y = b.input("a", a_shape, "float32"), b.input("b", b_shape, "float32")
    with pytest.raises(ShapeError, match=match):
        b.emit("MatMul", [x, y])


# -- Gemm ----------------------------------------------------------------------------------

@given(st.data())
def test_gemm(data):
    m, k, n = data.draw(dims), data.draw(dims), data.draw(dims)
    trans_a, trans_b = data.draw(st.sampled_from([None, 0, 1])), data.draw(st.sampled_from(
        [None, 0, 1]))
    opset = data.draw(st.sampled_from([9, 11, 13, 21]))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    a = data.draw(values(dtype, (k, m) if trans_a else (m, k)))
    b = data.draw(values(dtype, (n, k) if trans_b else (k, n)))
    c_shapes = [(), (1,), (n,), (1, n), (m, 1), (m, n)] + ([None] if opset >= 11 else [])
    c_shape = data.draw(st.sampled_from(c_shapes))
    feeds = {"a": a, "b": b} if c_shape is None else {
        "a": a, "b": b, "c": data.draw(values(dtype, c_shape))}
    attrs = {key: v for key, v in [("transA", trans_a), ("transB", trans_b),
                                   ("alpha", data.draw(st.sampled_from([None, 0.5, -2.0]))),
                                   ("beta", data.draw(st.sampled_from([None, 0.0, 1.5])))]
             if v is not None}
    check_op("Gemm", feeds, opset=opset, **attrs)


def test_gemm_with_constant_weights_as_in_mlp():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 784), np.float32)
    w, bias = rng.standard_normal((512, 784), np.float32), rng.standard_normal(512, np.float32)
    check_op("Gemm", {"x": x}, initializers={"w": w, "b": bias}, transB=1, opset=13,
             tol=(1e-4, 1e-4))


def test_gemm_float16():
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(s).astype(np.float16) for s in [(3, 40), (40, 5)])
    check_op("Gemm", {"a": a, "b": b, "c": np.ones(5, np.float16)}, alpha=0.5, opset=13)


@pytest.mark.parametrize("c_shape", [(2,), (3, 4), (1, 1, 4)])
def test_gemm_bias_that_does_not_broadcast_is_a_shape_error(c_shape):
    b = GraphBuilder()
    a, bb, c = (b.input(n, s, "float32") for n, s in [("a", (2, 3)), ("b", (3, 4)),
                                                      ("c", c_shape)])
    with pytest.raises(ShapeError, match="does not broadcast"):
        b.emit("Gemm", [a, bb, c], {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})


# -- Einsum --------------------------------------------------------------------------------

# equation -> operand shapes as letters ('.' marks the ellipsis dims), sizes drawn per letter
EINSUM_FORMS = {
    "ij,jk->ik": ["ij", "jk"],                       # matmul
    "ij,jk": ["ij", "jk"],                           # implicit output
    "bij,bjk->bik": ["bij", "bjk"],                  # batched matmul
    "bhqd,bhkd->bhqk": ["bhqd", "bhkd"],             # attention scores (B transposed)
    "ji,jk->ik": ["ji", "jk"],                       # A transposed
    "ij,kj->ik": ["ij", "kj"],                       # B transposed
    "i,j->ij": ["i", "j"],                           # outer product
    "i,j": ["i", "j"],
    "i,i->": ["i", "i"],                             # dot
    "ijk,jkl->il": ["ijk", "jkl"],                   # contraction over two indices
    "abc,cd,de->abe": ["abc", "cd", "de"],           # chain of three
    "ij->ji": ["ij"],                                # transpose
    "ij->": ["ij"],                                  # full sum
    "ij->j": ["ij"],                                 # column sums
    "ii->i": ["ii"],                                 # diagonal
    "ii": ["ii"],                                    # trace
    "...ij,...jk->...ik": [".ij", ".jk"],            # ellipsis batch
    " ij , jk -> ik ": ["ij", "jk"],                 # spaces
}


@given(st.data())
def test_einsum(data):
    equation = data.draw(st.sampled_from(sorted(EINSUM_FORMS)))
    sizes = {c: data.draw(dims) for c in "abcdehijklqb"}
    ellipsis = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    feeds = {}
    for i, term in enumerate(EINSUM_FORMS[equation]):
        shape = [d for c in term for d in (ellipsis if c == "." else (sizes[c],))]
        feeds[f"x{i}"] = data.draw(values(dtype, tuple(shape)))
    check_op("Einsum", feeds, opset=data.draw(st.sampled_from([12, 21])), equation=equation)


def test_einsum_ellipsis_dims_of_size_one_broadcast():
    check_op("Einsum", {"a": np.ones((2, 1, 3), np.float32), "b": np.ones((1, 4, 3), np.float32)},
             opset=12, equation="...j,...j->...")


@pytest.mark.parametrize("given_eq, normal", [
    ("ij,jk", "ij,jk->ik"), (" i j , j k -> k i ", "ij,jk->ki"), ("ii", "ii->"),
    ("...ij,...jk", "...ij,...jk->...ik"), ("ba,ac", "ba,ac->bc"), ("i,i", "i,i->"),
])
def test_einsum_equation_is_normalized(given_eq, normal):
    assert normalize_equation(given_eq) == normal


@pytest.mark.parametrize("equation, shapes, match", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "sizes 3 and 4"),
    ("ij,jk->ik", [(2, 3)], "2 input terms"),
    ("ijk->i", [(2, 3)], "does not fit"),
    ("ij->iz", [(2, 3)], "not in any input"),
    ("ii->i", [(2, 3)], "repeats"),
    ("i1->i", [(2, 3)], "not letters"),
])
def test_einsum_errors(equation, shapes, match):
    b = GraphBuilder()
    xs = [b.input(f"x{i}", s, "float32") for i, s in enumerate(shapes)]
    with pytest.raises(ShapeError, match=match):
        b.emit("Einsum", xs, {"equation": equation})


# -- Trilu ---------------------------------------------------------------------------------

@given(st.data())
def test_trilu(data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5))
    dtype = data.draw(st.sampled_from(["float32", "int64", "int32", "bool"]))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.booleans()) if dtype == "bool"
                  else values(dtype, shape))
    upper = data.draw(st.sampled_from([{}, {"upper": 0}, {"upper": 1}]))
    k = data.draw(st.sampled_from([None, -7, -2, -1, 0, 1, 3, 9]))
    if k is None:
        check_op("Trilu", {"x": x}, opset=14, **upper)
    else:
        check_op("Trilu", {"x": x}, initializers={"k": np.array(k, np.int64)}, opset=14, **upper)


def test_trilu_needs_a_matrix():
    b = GraphBuilder()
    with pytest.raises(ShapeError, match="rank >= 2"):
        b.emit("Trilu", [b.input("x", (3,), "float32")], {"upper": 1, "k": 0})
