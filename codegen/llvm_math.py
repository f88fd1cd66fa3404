"""Math intrinsics for the LLVM backend: LLVM intrinsics where they lower to instructions,
vectorizable polynomial approximations where LLVM would call scalar libm once per lane.

float32 exp, tanh, erf and sigmoid are straight-line code (no calls), so a <16 x float>
exp is ~20 vector instructions instead of 16 libm calls: the win for softmax and GELU.
Accuracy (float32, checked in tests/codegen/test_math.py): exp < 1e-7 relative over the
normal range (denormal results included, overflow to inf, NaN propagated); tanh and erf
< 5e-7 relative (Eigen's rational approximations, also used by TVM's fast_tanh/fast_erf).
Other dtypes (float64) use LLVM intrinsics or libm per lane.
"""

from __future__ import annotations

import math

import llvmlite.ir as ir

# tir intrinsic name -> LLVM intrinsic stem
LLVM_INTRINSICS = {"exp": "llvm.exp", "exp2": "llvm.exp2", "log": "llvm.log", "log2": "llvm.log2",
                   "sqrt": "llvm.sqrt", "fabs": "llvm.fabs", "floor": "llvm.floor",
                   "ceil": "llvm.ceil", "round": "llvm.roundeven", "trunc": "llvm.trunc",
                   "pow": "llvm.pow", "sin": "llvm.sin", "cos": "llvm.cos", "fma": "llvm.fma"}
LIBM = {"tanh": "tanh", "erf": "erf"}  # float64 per-lane libm fallbacks

EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
            1.6666665459e-1, 5.0000001201e-1)  # Cephes expf on [-ln2/2, ln2/2]
ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
         -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
         -1.60960333262415e-02)
ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
         -7.37332916720468e-03, -1.42647390514189e-02)
TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
          5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
          4.89352455891786e-03)
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
          4.89352518554385e-03)


def mangle(ty: ir.Type) -> str:
    """LLVM's overload suffix: float -> f32, <16 x float> -> v16f32, i64 -> i64, ptr -> p0."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{mangle(ty.element)}"
    if isinstance(ty, ir.PointerType):
        return "p0"
    return ty.intrinsic_name


def declare(module: ir.Module, name: str, ret: ir.Type, args: list) -> ir.Function:
    """Get or declare a function (intrinsics are named with their mangled overloads)."""
    if name in module.globals:
        return module.globals[name]
    return ir.Function(module, ir.FunctionType(ret, args), name=name)


def call_intrinsic(b: ir.IRBuilder, stem: str, args: list, overloads: list | None = None,
                   ret: ir.Type | None = None):
    ret = ret or args[0].type
    overloads = overloads if overloads is not None else [ret]
    name = ".".join([stem] + [mangle(t) for t in overloads])
    return b.call(declare(b.module, name, ret, [a.type for a in args]), args)


class Poly:
    """Float arithmetic on scalars or vectors alike, with the backend's fast-math flags."""

    def __init__(self, b: ir.IRBuilder, ty: ir.Type, flags=("contract",)):
        self.b, self.ty, self.flags = b, ty, list(flags)
        self.lanes = ty.count if isinstance(ty, ir.VectorType) else 0
        self.fty = ty.element if self.lanes else ty

    def const(self, v, ty=None):
        ty = ty or self.fty
        c = ir.Constant(ty, v)
        return ir.Constant(ir.VectorType(ty, self.lanes), [c] * self.lanes) if self.lanes else c

    def vty(self, scalar: ir.Type) -> ir.Type:
        return ir.VectorType(scalar, self.lanes) if self.lanes else scalar

    def add(self, a, b): return self.b.fadd(a, b, flags=self.flags)
    def sub(self, a, b): return self.b.fsub(a, b, flags=self.flags)
    def mul(self, a, b): return self.b.fmul(a, b, flags=self.flags)
    def div(self, a, b): return self.b.fdiv(a, b, flags=self.flags)

    def clamp(self, x, lo, hi):
        """min(max(x, lo), hi) that keeps NaN (ordered compares are false for NaN)."""
        lo_c, hi_c = self.const(lo), self.const(hi)
        x = self.b.select(self.b.fcmp_ordered("<", x, lo_c), lo_c, x)
        return self.b.select(self.b.fcmp_ordered(">", x, hi_c), hi_c, x)

    def horner(self, x, coeffs):
        acc = self.const(coeffs[0])
        for c in coeffs[1:]:
            acc = self.add(self.mul(acc, x), self.const(c))
        return acc


def exp_f32(p: Poly, x):
    """exp(x) = 2^n * e^r, n = round(x / ln2), r = x - n ln2 (two-part ln2 for precision);
    2^n applied as two exponent-field multiplies so denormal results come out right."""
    b, i32 = p.b, ir.IntType(32)
    xc = p.clamp(x, -104.0, 89.0)
    n = call_intrinsic(b, "llvm.floor", [p.add(p.mul(xc, p.const(1.0 / math.log(2.0))),
                                               p.const(0.5))])
    r = p.sub(p.sub(xc, p.mul(n, p.const(0.693359375))), p.mul(n, p.const(-2.12194440e-4)))
    y = p.add(p.add(p.mul(p.horner(r, EXP_POLY), p.mul(r, r)), r), p.const(1.0))
    ni = b.fptosi(n, p.vty(i32))
    n1 = b.ashr(ni, p.const(1, i32))
    scale = [b.bitcast(b.shl(b.add(k, p.const(127, i32)), p.const(23, i32)), p.ty)
             for k in (n1, b.sub(ni, n1))]
    out = p.mul(p.mul(y, scale[0]), scale[1])
    return b.select(b.fcmp_unordered("uno", x, x), x, out)


def _rational(p: Poly, x, limit, num, den):
    """x * P(x^2) / Q(x^2) on x clamped to [-limit, limit]."""
    xc = p.clamp(x, -limit, limit)
    x2 = p.mul(xc, xc)
    return p.div(p.mul(xc, p.horner(x2, num)), p.horner(x2, den))


def erf_f32(p: Poly, x):
    return _rational(p, x, 4.0, ERF_P, ERF_Q)


def tanh_f32(p: Poly, x):
    return _rational(p, x, 9.0, TANH_P, TANH_Q)


def sigmoid(p: Poly, x):
    """1 / (1 + exp(-x)); exp overflows to inf for very negative x, giving exactly 0."""
    e = emit_math(p.b, "exp", [p.b.fsub(p.const(-0.0), x)], p.flags)
    return p.div(p.const(1.0), p.add(p.const(1.0), e))


def rsqrt(p: Poly, x):
    return p.div(p.const(1.0), call_intrinsic(p.b, "llvm.sqrt", [x]))


def _libm_per_lane(name):
    def emit(p: Poly, x):
        fn = declare(p.b.module, name, p.fty, [p.fty])
        if not p.lanes:
            return p.b.call(fn, [x])
        out = ir.Constant(p.ty, ir.Undefined)
        for k in range(p.lanes):
            lane = p.b.call(fn, [p.b.extract_element(x, ir.Constant(ir.IntType(32), k))])
            out = p.b.insert_element(out, lane, ir.Constant(ir.IntType(32), k))
        return out
    return emit


# (intrinsic, element dtype) -> emitter; other names fall back to LLVM_INTRINSICS / LIBM
POLYNOMIAL = {("exp", "float32"): exp_f32, ("erf", "float32"): erf_f32,
              ("tanh", "float32"): tanh_f32}
GENERIC = {"sigmoid": sigmoid, "rsqrt": rsqrt,
           "fmod": lambda p, a, b: p.b.frem(a, b)}  # exact C fmod; x86 calls fmodf per lane


FLOAT_NAMES = {ir.HalfType: "float16", ir.FloatType: "float32", ir.DoubleType: "float64"}


def emit_math(b: ir.IRBuilder, name: str, args: list, flags=("contract",)):
    """Emit intrinsic `name` over float scalar/vector LLVM values `args`."""
    p = Poly(b, args[0].type, flags)
    key = (name, FLOAT_NAMES.get(type(p.fty), str(p.fty)))
    if key in POLYNOMIAL:
        return POLYNOMIAL[key](p, *args)
    if name in GENERIC:
        return GENERIC[name](p, *args)
    if name in LIBM:
        return _libm_per_lane(LIBM[name])(p, *args)
    if name in LLVM_INTRINSICS:
        return call_intrinsic(b, LLVM_INTRINSICS[name], args)
    raise NotImplementedError(f"no LLVM lowering for intrinsic {name!r} on {key[1]}")
