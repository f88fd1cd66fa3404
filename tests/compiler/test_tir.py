"""Loop IR: construction, printing, simplification, vectorize and unroll transforms."""

from tensorforge.compiler import tir
from tensorforge.compiler.tir import Buffer, Const, For, PrimFunc, Ramp, Var
from tensorforge.compiler.tir_simplify import simplify
from tensorforge.compiler.tir_unroll import unroll
from tensorforge.compiler.tir_vectorize import vectorize


def test_dtype_helpers():
    assert tir.lanes("float32x16") == 16 and tir.lanes("int64") == 1
    assert tir.with_lanes("float32", 8) == "float32x8" and tir.element("float32x8") == "float32"
    assert tir.bits("float64") == 64 and tir.bits("bool") == 8


def test_operators_build_typed_expressions():
    i = Var("i")
    e = (i + 1) * 4 // 2
    assert isinstance(e, tir.Binary) and e.op == "floordiv" and e.dtype == "int64"
    x = Buffer("X", "float32", (8,))
    assert (x[i] * 2.0).dtype == "float32"
    assert (x[i] < 1.0).dtype == "bool"
    assert Ramp(i, 1, 16).dtype == "int64x16"


def test_vars_compare_by_identity_exprs_structurally():
    a, b = Var("i"), Var("i")
    assert a != b and a + 1 == a + 1 and a + 1 != b + 1


def test_buffer_flat_index_uses_strides():
    A = Buffer("A", "float32", (3, 5, 7))
    assert A.strides == (35, 7, 1)
    i, j, k = Var("i"), Var("j"), Var("k")
    assert str(A.flat_index((i, j, k))) == "((i * 35) + (j * 7)) + k"


def test_printer_shows_loop_nest():
    A, B = Buffer("A", "float32", (4, 8)), Buffer("B", "float32", (4, 8))
    i, j = Var("i"), Var("j")
    f = PrimFunc("double", (A, B), For(i, 0, 4, "parallel",
                                       For(j, 0, 8, "serial", B.store((i, j), A[i, j] * 2.0))))
    assert str(f) == (
        "func double(A: float32[4, 8], B: float32[4, 8]):\n"
        "  for i in parallel(0, 4):\n"
        "    for j in serial(0, 8):\n"
        "      B[(i * 8) + j] = A[(i * 8) + j] * 2.0")


def test_free_vars_and_buffers():
    A = Buffer("A", "float32", (8,))
    i, n = Var("i"), Var("n")
    loop = For(i, 0, n, "serial", A.store(i, 1.0))
    assert tir.free_vars(loop) == [n] and tir.buffers_of(loop) == [A]


def test_simplify_constant_folding_and_identities():
    i = Var("i")
    assert simplify(Const(2) * 3 + 4) == Const(10)
    assert simplify(i * 1 + 0) is i
    assert simplify((i * 2) * 4) == i * 8
    assert simplify(2 + i) == i + 2
    assert simplify((i + 3) - 3) is i
    assert simplify(i - i) == Const(0)


def test_simplify_div_mod_with_ranges():
    i, j = Var("i"), Var("j")
    r = {j: (0, 7)}
    assert simplify((i * 8 + j) // 8, r) is i
    assert simplify((i * 8 + j) % 8, r) is j
    assert simplify(j // 8, r) == Const(0)
    assert simplify(tir.min_(j, 10), r) is j
    assert simplify(j < 8, r) == Const(True, "bool")
    assert simplify((i + 3) // 8) == (i + 3) // 8  # unknown range: unchanged


def test_simplify_statements_uses_loop_ranges():
    A = Buffer("A", "float32", (64,))
    i, j = Var("i"), Var("j")
    body = For(j, 0, 8, "serial", tir.IfThenElse(j < 8, A.store(((i * 8 + j) // 8) * 8 + j, 1.0)))
    out = simplify(For(i, 0, 8, "serial", body))
    assert str(out) == "for i in serial(0, 8):\n  for j in serial(0, 8):\n    A[(i * 8) + j] = 1.0"
    assert simplify(For(i, 0, 1, "serial", A.store(i, 1.0))) == A.store(Const(0), 1.0)
    assert simplify(For(i, 0, 0, "serial", A.store(i, 1.0))) == tir.Seq(())


def _add(n):
    A, B, C = (Buffer(x, "float32", (n,)) for x in "ABC")
    i = Var("i")
    return For(i, 0, n, "vectorized", C.store(i, A[i] + B[i]))


def test_vectorize_exact_multiple_is_unmasked_chunks():
    out = unroll(vectorize(_add(32), 512))
    assert str(out) == ("C[ramp(0, 1, 16)] = A[ramp(0, 1, 16)] + B[ramp(0, 1, 16)]\n"
                        "C[ramp(16, 1, 16)] = A[ramp(16, 1, 16)] + B[ramp(16, 1, 16)]")


def test_vectorize_odd_tail_is_masked():
    out = vectorize(_add(21), 512)
    stores = [n for n in tir.walk(out) if isinstance(n, tir.Store)]
    assert [s.mask is None for s in stores] == [True, False]
    assert stores[1].index == Ramp(Const(16), Const(1), 16)


def test_vectorize_power_of_two_tail_is_narrow_vector():
    out = vectorize(_add(20), 512)
    stores = [n for n in tir.walk(out) if isinstance(n, tir.Store)]
    assert [tir.lanes(s.index.dtype) for s in stores] == [16, 4]
    assert all(s.mask is None for s in stores)


def test_vectorize_dynamic_extent_guards_tail():
    A, C = Buffer("A", "float32", (100,)), Buffer("C", "float32", (100,))
    i, n = Var("i"), Var("n")
    out = vectorize(For(i, 0, n, "vectorized", C.store(i, A[i] * 2.0)), 256)
    assert isinstance(out.stmts[0], For) and isinstance(out.stmts[1], tir.IfThenElse)


def test_vectorize_broadcasts_invariant_loads():
    A, B = Buffer("A", "float32", (4, 16)), Buffer("B", "float32", (4,))
    i, j = Var("i"), Var("j")
    out = vectorize(For(j, 0, 16, "vectorized", A.store((i, j), B[i] * 2.0)), 512)
    assert "broadcast(B[i], 16)" in str(out) or "B[i]" in str(out)
    loads = [n for n in tir.walk(out) if isinstance(n, tir.Load)]
    assert all(tir.lanes(ld.dtype) == 1 for ld in loads)


def test_vectorize_reduction_into_one_cell_stays_serial():
    A, acc = Buffer("A", "float32", (16,)), Buffer("acc", "float32", (1,), scope="local")
    j = Var("j")
    out = vectorize(For(j, 0, 16, "vectorized", acc.store(0, acc[0] + A[j])), 512)
    assert isinstance(out, For) and out.kind == "serial"


def test_unroll_substitutes_constants():
    A = Buffer("A", "float32", (3,))
    i = Var("i")
    out = unroll(For(i, 0, 3, "unrolled", A.store(i, 1.0)))
    assert [s.index for s in out.stmts] == [Const(0), Const(1), Const(2)]


def test_simplify_keeps_one_trip_gpu_loops():
    """threadIdx.x(0, 1) means 'thread 0 only': flattening it would run the body everywhere."""
    A = Buffer("A", "float32", (4,))
    i, t = Var("i"), Var("t")
    gpu = simplify(For(t, 0, 1, "threadIdx.x", A.store(t, 1.0)))
    cpu = simplify(For(i, 0, 1, "serial", A.store(i, 1.0)))
    assert isinstance(gpu, For) and gpu.kind == "threadIdx.x"
    assert not isinstance(cpu, For)
