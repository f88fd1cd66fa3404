"""Loop IR -> LLVM IR through llvmlite.ir.

A PrimFunc becomes `void @"tf_kernel.name"(ptr noalias %A, ..., i64 %n)`: buffers are pointers (no two
arguments may overlap, like TVM's restrict), scalar params are passed by value. Vector
expressions use explicit LLVM vector types: a contiguous Ramp index is one vector load/store
(`llvm.masked.load/store` when the tail mask is set), a small constant stride contiguous loads
and a shuffle, a run of strided stores forming a tile a transpose and contiguous stores
(llvm_strided), any other vector index a gather/scatter. A padding read
`buf[select(c, i, 0)]` is a load at i masked by c.
Local buffers are stack allocas in the entry block (LLVM promotes unrolled tiles to registers);
an Allocate of any other scope is heap scratch (aligned_alloc/free around its body).

Float math carries the "contract" fast-math flag by default so a*b+c becomes an FMA; no
reassociation (results stay those of the loop order written; `fastmath="fast"` opts in).

A `parallel` loop is outlined into `@name.par<k>(ptr %closure, i64 %begin, i64 %end)` and
run by `tf_parallel_for(body, closure, extent, nthreads)`, the thread pool of llvm_threadpool
(chunks claimed dynamically; the calling thread takes part). Parallel loops nested in a
parallel loop run serially. Thread count: the module global `__tf_num_threads` (below 2:
serial), which the Kernel sets from TENSORFORGE_NUM_THREADS before a call.
"""

from __future__ import annotations

import math

import llvmlite.ir as ir

from ..compiler import tir
from ..compiler.aligned import ALIGNMENT, round_up
from ..compiler.errors import TensorForgeError
from ..compiler.tir import Buffer, Const, Ramp, Var
from .llvm_math import call_intrinsic, declare, emit_math
from .llvm_strided import StoreTile, group_stores, guarded_index, load_stride, prefix, \
    strided_load, transpose
from .target import Target

NUM_THREADS_GLOBAL = "__tf_num_threads"
PARALLEL_FOR = "tf_parallel_for"  # the thread pool's entry (llvm_threadpool)
I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
SCALAR_TYPES = {"float16": ir.HalfType(), "float32": ir.FloatType(), "float64": ir.DoubleType(),
                "bool": I1, **{f"{s}int{n}": ir.IntType(n) for s in ("", "u") for n in (8, 16, 32, 64)}}
FLAGS = {"contract": ("contract",), "fast": ("fast",), "none": ()}


class CodegenError(TensorForgeError):
    """The loop IR uses something this backend cannot emit (GPU loop kinds, dynamic allocas)."""


def kind_of(dtype: str) -> str:
    """Operation family of a dtype: float, int (signed), uint, bool."""
    e = tir.element(dtype)
    return "float" if tir.is_float(e) else "bool" if e == "bool" else "uint" if e[0] == "u" else "int"


def llvm_type(dtype: str, storage: bool = False) -> ir.Type:
    """Register type of a dtype (bool is i1), or its memory type (bool is i8) when storage."""
    scalar = I8 if storage and tir.element(dtype) == "bool" else SCALAR_TYPES[tir.element(dtype)]
    n = tir.lanes(dtype)
    return ir.VectorType(scalar, n) if n > 1 else scalar


def gep(b: ir.IRBuilder, ptr, indices: list, etype: ir.Type, result: ir.Type = PTR):
    """getelementptr with an opaque result (llvmlite would infer a typed pointer, or one
    pointer where a vector index gives a vector of pointers)."""
    addr = b.gep(ptr, indices, inbounds=True, source_etype=etype)
    addr.type = result
    return addr


def _const(ty: ir.Type, value):
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
    return ir.Constant(ty, value)


# ---------------------------------------------------------------- op tables
# Each entry: (emitter, a, b) -> value. `e` is the _Emitter, `b` its IRBuilder.

def _fcmp_select(op):
    """Float min/max that propagate NaN from either side, as NumPy and ONNX Runtime's
    elementwise ops do (a bare ordered compare + select would return y for NaN x)."""

    def minmax(e, x, y):
        keep_x = e.b.or_(e.b.fcmp_unordered("uno", x, x), e.b.fcmp_ordered(op, x, y))
        return e.b.select(keep_x, x, y)

    return minmax


def _icmp_select(op, signed):
    cmp = "icmp_signed" if signed else "icmp_unsigned"
    return lambda e, x, y: e.b.select(getattr(e.b, cmp)(op, x, y), x, y)


def _floor_adjust(e, x, y):
    """For signed floordiv/floormod: the remainder and whether C truncation rounded up."""
    r = e.b.srem(x, y)
    zero = _const(x.type, 0)
    return r, e.b.and_(e.b.icmp_signed("!=", r, zero),
                       e.b.icmp_signed("<", e.b.xor(r, y), zero))


def _sfloordiv(e, x, y):
    r, adjust = _floor_adjust(e, x, y)
    q = e.b.sdiv(x, y)
    return e.b.select(adjust, e.b.sub(q, _const(x.type, 1)), q)


def _sfloormod(e, x, y):
    r, adjust = _floor_adjust(e, x, y)
    return e.b.select(adjust, e.b.add(r, y), r)


def _ffloordiv(e, x, y):
    return call_intrinsic(e.b, "llvm.floor", [e.b.fdiv(x, y, flags=e.flags)])


def _ffloormod(e, x, y):
    return e.b.fsub(x, e.b.fmul(_ffloordiv(e, x, y), y, flags=e.flags), flags=e.flags)


def _safe_divisor(fn, signed):
    """Integer division that cannot trap: a zero divisor (also the masked-off lanes of a
    vector tail, loaded as 0) becomes 1, and so does -1 under INT_MIN (x86 faults on both).
    x / 0 then yields x; ONNX leaves it undefined, and it must never kill the process."""

    def safe(e, x, y):
        one, zero = _const(y.type, 1), _const(y.type, 0)
        bad = e.b.icmp_unsigned("==", y, zero)
        if signed:
            width = y.type.element.width if isinstance(y.type, ir.VectorType) else y.type.width
            overflow = e.b.and_(e.b.icmp_signed("==", y, _const(y.type, -1)),
                                e.b.icmp_signed("==", x, _const(x.type, -(1 << (width - 1)))))
            bad = e.b.or_(bad, overflow)
        return fn(e, x, e.b.select(bad, one, y))

    return safe


def _method(name, flagged=False):
    if flagged:
        return lambda e, x, y: getattr(e.b, name)(x, y, flags=e.flags)
    return lambda e, x, y: getattr(e.b, name)(x, y)


_INT_COMMON = {"add": _method("add"), "sub": _method("sub"), "mul": _method("mul"),
               "and": _method("and_"), "or": _method("or_")}
BINARY = {
    "float": {"add": _method("fadd", True), "sub": _method("fsub", True),
              "mul": _method("fmul", True), "div": _method("fdiv", True),
              "floordiv": _ffloordiv, "floormod": _ffloormod,
              "min": _fcmp_select("<"), "max": _fcmp_select(">")},
    "int": {**_INT_COMMON, "div": _safe_divisor(_method("sdiv"), True),
            "floordiv": _safe_divisor(_sfloordiv, True),
            "floormod": _safe_divisor(_sfloormod, True),
            "min": _icmp_select("<", True), "max": _icmp_select(">", True)},
    "uint": {**_INT_COMMON, "div": _safe_divisor(_method("udiv"), False),
             "floordiv": _safe_divisor(_method("udiv"), False),
             "floormod": _safe_divisor(_method("urem"), False), "min": _icmp_select("<", False),
             "max": _icmp_select(">", False)},
    "bool": {"and": _method("and_"), "or": _method("or_"), "min": _method("and_"),
             "max": _method("or_")},
}
CMP_SYMBOL = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
COMPARE = {
    "float": lambda e, op, x, y: (e.b.fcmp_unordered if op == "!=" else e.b.fcmp_ordered)(op, x, y),
    "int": lambda e, op, x, y: e.b.icmp_signed(op, x, y),
    "uint": lambda e, op, x, y: e.b.icmp_unsigned(op, x, y),
    "bool": lambda e, op, x, y: e.b.icmp_unsigned(op, x, y),
}


def _resize_int(e, x, ty, signed):
    src, dst = x.type, ty
    sb = (src.element if isinstance(src, ir.VectorType) else src).width
    db = (dst.element if isinstance(dst, ir.VectorType) else dst).width
    if sb == db:
        return x
    return e.b.trunc(x, ty) if sb > db else (e.b.sext if signed else e.b.zext)(x, ty)


def _resize_float(e, x, ty):
    width = {ir.HalfType: 16, ir.FloatType: 32, ir.DoubleType: 64}
    el = lambda t: t.element if isinstance(t, ir.VectorType) else t
    sb, db = width[type(el(x.type))], width[type(el(ty))]
    return x if sb == db else e.b.fptrunc(x, ty) if sb > db else e.b.fpext(x, ty)


# (source kind, destination kind) -> (emitter, value, destination type) -> value
CAST = {
    ("float", "float"): _resize_float,
    ("int", "float"): lambda e, x, t: e.b.sitofp(x, t),
    ("uint", "float"): lambda e, x, t: e.b.uitofp(x, t),
    ("bool", "float"): lambda e, x, t: e.b.uitofp(x, t),
    ("float", "int"): lambda e, x, t: e.b.fptosi(x, t),
    ("float", "uint"): lambda e, x, t: e.b.fptoui(x, t),
    ("float", "bool"): lambda e, x, t: e.b.fcmp_unordered("!=", x, _const(x.type, 0.0)),
    ("int", "int"): lambda e, x, t: _resize_int(e, x, t, True),
    ("int", "uint"): lambda e, x, t: _resize_int(e, x, t, True),
    ("uint", "int"): lambda e, x, t: _resize_int(e, x, t, False),
    ("uint", "uint"): lambda e, x, t: _resize_int(e, x, t, False),
    ("bool", "int"): lambda e, x, t: e.b.zext(x, t),
    ("bool", "uint"): lambda e, x, t: e.b.zext(x, t),
    ("int", "bool"): lambda e, x, t: e.b.icmp_signed("!=", x, _const(x.type, 0)),
    ("uint", "bool"): lambda e, x, t: e.b.icmp_signed("!=", x, _const(x.type, 0)),
    ("bool", "bool"): lambda e, x, t: x,
}


class _StringAttrs(ir.values.FunctionAttributes):
    """llvmlite only knows enum attributes; this lets "key"="value" ones through."""

    def __init__(self, pairs: dict, flags=("nounwind",)):
        self._known = ir.values.FunctionAttributes._known | {f'"{k}"="{v}"' for k, v in pairs.items()}
        super().__init__(list(flags) + [f'"{k}"="{v}"' for k, v in pairs.items()])


def function_attributes(target: Target) -> dict:
    attrs = {"target-cpu": target.cpu, "target-features": target.mattr_string}
    if target.vector_bits >= 512:
        attrs.update({"prefer-vector-width": "512", "min-legal-vector-width": "512"})
    return attrs


# ---------------------------------------------------------------- emitter


class _Emitter:
    """Emits one LLVM function body; `env` maps Vars to values, `bufs` Buffers to pointers."""

    def __init__(self, module, fn, env, bufs, attrs, flags, in_parallel):
        self.module, self.fn, self.attrs, self.flags = module, fn, attrs, flags
        self.env, self.bufs, self.in_parallel = dict(env), dict(bufs), in_parallel
        entry, body = fn.append_basic_block("entry"), fn.append_basic_block("body")
        self.allocas = ir.IRBuilder(entry)  # the entry block holds only allocas
        self.allocas.position_before(self.allocas.branch(body))
        self.b = ir.IRBuilder(body)

    # ------------------------------------------------------------ expressions
    def expr(self, e: tir.Expr):
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_Var(self, e):
        if e not in self.env:
            raise CodegenError(f"variable {e.name!r} used outside its loop or let")
        return self.env[e]

    def e_Const(self, e):
        return ir.Constant(llvm_type(e.dtype), e.value)

    def e_Binary(self, e):
        table = BINARY[kind_of(e.a.dtype)]
        if e.op not in table:
            raise CodegenError(f"{e.op} is not defined on {e.a.dtype}")
        return table[e.op](self, self.expr(e.a), self.expr(e.b))

    def e_Compare(self, e):
        return COMPARE[kind_of(e.a.dtype)](self, CMP_SYMBOL[e.op], self.expr(e.a), self.expr(e.b))

    def e_Select(self, e):
        t = e.t
        guarded = guarded_index(t.index) if isinstance(t, tir.Load) and t.mask is None else None
        if guarded and guarded[0] == e.cond:  # cond ? buf[select(cond, i, 0)] : f
            return self._memory(t.buffer, guarded[1], e.cond, None, self.expr(e.f))
        return self.b.select(self.expr(e.cond), self.expr(e.t), self.expr(e.f))

    def e_Cast(self, e):
        return CAST[kind_of(e.x.dtype), kind_of(e.dtype)](self, self.expr(e.x), llvm_type(e.dtype))

    def e_Call(self, e):
        return emit_math(self.b, e.name, [self.expr(a) for a in e.args], self.flags)

    def e_Broadcast(self, e):
        x = e.value
        if isinstance(x, tir.Cast) and tir.element(x.x.dtype) == "float16":
            # convert the splat (vpbroadcastw + one vcvtph2ps): a scalar half load goes through
            # vpinsrw, which waits on the last writer of its register (a GEMM accumulator)
            wide = tir.with_lanes(x.dtype, e.lanes)
            return self.e_Cast(tir.Cast(wide, tir.Broadcast(x.x, e.lanes)))
        v = self.expr(e.value)
        vec = self.b.insert_element(ir.Constant(ir.VectorType(v.type, e.lanes), ir.Undefined), v,
                                    ir.Constant(I32, 0))
        zeros = ir.Constant(ir.VectorType(I32, e.lanes), [ir.Constant(I32, 0)] * e.lanes)
        return self.b.shuffle_vector(vec, ir.Constant(vec.type, ir.Undefined), zeros)

    def e_Ramp(self, e):
        ty = llvm_type(e.dtype)
        iota = ir.Constant(ty, [ir.Constant(ty.element, k) for k in range(e.lanes)])
        base, stride = (self.e_Broadcast(tir.Broadcast(x, e.lanes)) for x in (e.base, e.stride))
        return self.b.add(base, self.b.mul(stride, iota))

    def e_Load(self, e):
        guarded = guarded_index(e.index)
        if guarded is None:
            return self._memory(e.buffer, e.index, e.mask, None)
        # lanes whose guard is false read element 0, which exists whenever such a lane does
        cond, index = guarded
        n = tir.lanes(index.dtype)
        at0 = tir.Const(0, tir.element(index.dtype))
        first = self.e_Broadcast(tir.Broadcast(tir.Load(e.buffer, at0), n))
        if e.mask is None:
            return self._memory(e.buffer, index, cond, None, first)
        zero = tir.Broadcast(tir.Const(0, tir.element(e.dtype)), n)
        return self._memory(e.buffer, index, tir.Binary("and", cond, e.mask), None,
                            self.b.select(self.expr(e.mask), first, self.expr(zero)))

    # ------------------------------------------------------------ memory
    def _align(self, buf: Buffer, index: tir.Expr) -> int:
        """Known alignment: local tiles are 64-aligned, so constant offsets into them are too."""
        size = tir.bits(buf.dtype) // 8
        base = index.base if isinstance(index, Ramp) else index
        if buf.scope == "local" and isinstance(base, Const):
            return math.gcd(64, base.value * size) or 64
        return size

    def _memory(self, buf, index, mask, value, passthrough=None):
        """Load (value None) or store `value` at buf[index], scalar, vector, strided or
        gather; masked-off lanes of a load are `passthrough` (zero when None)."""
        ptr, n = self.bufs[buf], tir.lanes(index.dtype)
        elem, align = llvm_type(buf.dtype, storage=True), ir.Constant(I32, self._align(buf, index))
        vty = ir.VectorType(elem, n) if n > 1 else elem
        if value is not None and tir.element(buf.dtype) == "bool":
            value = self.b.zext(value, vty)
        m = self.expr(mask) if mask is not None else None
        if passthrough is not None and tir.element(buf.dtype) == "bool":
            passthrough = self.b.zext(passthrough, vty)
        passthrough = passthrough if passthrough is not None else _const(vty, 0)
        contiguous = isinstance(index, Ramp) and index.stride == Const(1, index.stride.dtype)
        stride = load_stride(index) if value is None else None
        if n == 1 or contiguous or stride:
            base = index.base if contiguous or stride else index
            addr = gep(self.b, ptr, [self.expr(base)], elem)
            out = strided_load(self.b, lambda k: gep(self.b, addr, [ir.Constant(I64, k)], elem),
                               vty, stride, m, passthrough) if stride else \
                self._contiguous(addr, vty, align, m, value, passthrough)
        else:
            offsets = self.expr(index)
            addr = gep(self.b, ptr, [offsets], elem, ir.VectorType(PTR, n))
            out = self._gather_scatter(addr, vty, align, m, value, passthrough)
        if value is None and tir.element(buf.dtype) == "bool":
            return self.b.trunc(out, llvm_type(tir.with_lanes("bool", n)))
        return out

    def _contiguous(self, addr, vty, align, m, value, passthrough):
        if m is None:
            if value is None:
                return self.b.load(addr, typ=vty, align=align.constant)
            return self.b.store(value, addr, align=align.constant)
        if value is None:
            return call_intrinsic(self.b, "llvm.masked.load", [addr, align, m, passthrough],
                                  [vty, PTR], vty)
        return call_intrinsic(self.b, "llvm.masked.store", [value, addr, align, m],
                              [vty, PTR], ir.VoidType())

    def _gather_scatter(self, addrs, vty, align, m, value, passthrough):
        m = m if m is not None else _const(ir.VectorType(I1, vty.count), 1)
        if value is None:
            return call_intrinsic(self.b, "llvm.masked.gather", [addrs, align, m, passthrough],
                                  [vty, addrs.type], vty)
        return call_intrinsic(self.b, "llvm.masked.scatter", [value, addrs, align, m],
                              [vty, addrs.type], ir.VoidType())

    # ------------------------------------------------------------ statements
    def stmt(self, s: tir.Stmt):
        getattr(self, "s_" + type(s).__name__)(s)

    def s_Seq(self, s):
        for c in group_stores(s.stmts):
            self._store_tile(c) if isinstance(c, StoreTile) else self.stmt(c)

    def _store_tile(self, t: StoreTile):
        """K strided row stores as L contiguous column stores (see llvm_strided)."""
        elem = llvm_type(t.buffer.dtype, storage=True)
        values = [self.expr(v) for v in t.values]
        if tir.element(t.buffer.dtype) == "bool":
            values = [self.b.zext(v, ir.VectorType(elem, v.type.count)) for v in values]
        k, size = len(values), tir.bits(t.buffer.dtype) // 8
        base, stride = self.expr(t.base), self.expr(t.stride)
        width = 1 << (k - 1).bit_length()  # stored lanes per column: K rounded up to 2^n
        mask = _const(ir.VectorType(I1, width), 1) if width == k else ir.Constant(
            ir.VectorType(I1, width), [ir.Constant(I1, j < k) for j in range(width)])
        for j, column in enumerate(transpose(self.b, values)):
            at = self.b.add(base, self.b.mul(stride, ir.Constant(stride.type, j)))
            addr = gep(self.b, self.bufs[t.buffer], [at], elem)
            self._contiguous(addr, ir.VectorType(elem, width), ir.Constant(I32, size),
                             None if width == k else mask, prefix(self.b, column, width), None)

    def s_Store(self, s):
        self._memory(s.buffer, s.index, s.mask, self.expr(s.value))

    def s_LetStmt(self, s):
        self.env[s.var] = self.expr(s.value)
        self.stmt(s.body)

    def s_IfThenElse(self, s):
        cond = self.expr(s.cond)
        if s.else_case is None:
            with self.b.if_then(cond):
                self.stmt(s.then_case)
            return
        with self.b.if_else(cond) as (then, other):
            with then:
                self.stmt(s.then_case)
            with other:
                self.stmt(s.else_case)

    def s_Allocate(self, s):
        buf = s.buffer
        if not isinstance(buf.size, int):
            raise CodegenError(f"local buffer {buf.name} needs a constant size, got {buf.shape}")
        if buf.scope == "local":
            self.bufs[buf] = self.alloca(ir.ArrayType(llvm_type(buf.dtype, True), buf.size), buf.name)
            self.stmt(s.body)
            return
        # other scopes are scratch too large for the stack: 64-byte aligned heap, freed after
        nbytes = round_up(buf.size * (tir.bits(buf.dtype) // 8))   # aligned_alloc requires it
        alloc = declare(self.module, "aligned_alloc", PTR, [I64, I64])
        self.bufs[buf] = self.b.call(alloc, [ir.Constant(I64, ALIGNMENT),
                                             ir.Constant(I64, nbytes)])
        self.stmt(s.body)
        self.b.call(declare(self.module, "free", ir.VoidType(), [PTR]), [self.bufs[buf]])

    def alloca(self, ty: ir.Type, name: str):
        """A 64-byte aligned stack slot in the entry block, where SROA/mem2reg look for them."""
        slot = self.allocas.alloca(ty, name=name)
        slot.align = 64
        slot.type = PTR  # opaque, so llvmlite does not type-check through the typed pointer
        return slot

    def s_For(self, s):
        if s.kind in tir.GPU_LOOP_KINDS:
            raise CodegenError(f"loop kind {s.kind} needs a GPU target, not LLVM CPU")
        if s.kind == tir.PARALLEL and not self.in_parallel:
            return self._parallel(s)
        lo = self.expr(s.min)
        self.loop(s.var, lo, self.b.add(lo, self.expr(s.extent)), s.body)

    def loop(self, var, lo, hi, body):
        """for (var = lo; var < hi; ++var) body."""
        pre = self.b.block
        header = self.fn.append_basic_block(f"{var.name}.head")
        inner = self.fn.append_basic_block(f"{var.name}.body")
        done = self.fn.append_basic_block(f"{var.name}.end")
        self.b.branch(header)
        self.b.position_at_end(header)
        phi = self.b.phi(I64, name=var.name)
        phi.add_incoming(lo, pre)
        self.b.cbranch(self.b.icmp_signed("<", phi, hi), inner, done)
        self.b.position_at_end(inner)
        self.env[var] = phi
        self.stmt(body)
        phi.add_incoming(self.b.add(phi, ir.Constant(I64, 1), flags=["nsw"]), self.b.block)
        self.b.branch(header)
        self.b.position_at_end(done)

    def _parallel(self, s: tir.For):
        """Outline the loop into body(closure, begin, end) and run it on the thread pool."""
        captured_vars = [v for v in tir.free_vars(s.body) if v is not s.var]
        captured_bufs = tir.buffers_of(s.body)
        values = [self.expr(s.min)] + [self.bufs[b] for b in captured_bufs] + \
            [self.env[v] for v in captured_vars]
        closure_ty = ir.LiteralStructType([v.type for v in values])
        slot = self.alloca(closure_ty, "closure")
        for k, v in enumerate(values):
            self.b.store(v, gep(self.b, slot, [ir.Constant(I32, 0), ir.Constant(I32, k)], closure_ty))

        outlined = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]),
                               name=f"{self.fn.name}.par{len(self.module.functions)}")
        outlined.linkage = "internal"
        outlined.attributes = _StringAttrs(self.attrs)
        inner = _Emitter(self.module, outlined, {}, {}, self.attrs, self.flags, True)
        arg, begin, end = outlined.args
        fields = [inner.b.load(gep(inner.b, arg, [ir.Constant(I32, 0), ir.Constant(I32, k)],
                                   closure_ty), typ=v.type) for k, v in enumerate(values)]
        lo = fields[0]
        inner.bufs.update(zip(captured_bufs, fields[1:1 + len(captured_bufs)]))
        inner.env.update(zip(captured_vars, fields[1 + len(captured_bufs):]))
        inner.loop(s.var, inner.b.add(lo, begin), inner.b.add(lo, end), s.body)
        inner.b.ret_void()

        run = declare(self.module, PARALLEL_FOR, ir.VoidType(), [PTR, PTR, I64, I32])
        nthreads = self.b.load(self.module.globals[NUM_THREADS_GLOBAL], typ=I32)
        self.b.call(run, [outlined, slot, self.expr(s.extent), nthreads])


def param_type(p) -> ir.Type:
    return PTR if isinstance(p, Buffer) else llvm_type(p.dtype)


def symbol(func: tir.PrimFunc) -> str:
    """The kernel's LLVM symbol, prefixed so a kernel named "exp" cannot capture libm's exp."""
    return f"tf_kernel.{func.name}"


def emit_module(func: tir.PrimFunc, target: Target, fastmath: str = "contract") -> ir.Module:
    """The LLVM module of an already lowered PrimFunc (see llvm_build.lower)."""
    module = ir.Module(name=func.name)
    module.triple = target.triple
    nthreads = ir.GlobalVariable(module, I32, NUM_THREADS_GLOBAL)
    nthreads.initializer = ir.Constant(I32, 0)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [param_type(p) for p in func.params]),
                     name=symbol(func))
    attrs = function_attributes(target)
    fn.attributes = _StringAttrs(attrs)
    for arg, p in zip(fn.args, func.params):
        arg.name = p.name
        if isinstance(p, Buffer):
            arg.add_attribute("noalias")
    emitter = _Emitter(module, fn, {p: a for p, a in zip(func.params, fn.args) if isinstance(p, Var)},
                       {p: a for p, a in zip(func.params, fn.args) if isinstance(p, Buffer)},
                       attrs, FLAGS[fastmath], False)
    emitter.stmt(func.body)
    emitter.b.ret_void()
    return module
