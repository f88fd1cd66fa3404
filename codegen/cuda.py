"""Loop IR -> CUDA C source: one `extern "C" __global__` kernel per PrimFunc.

    func add(A: float32[1000], B: float32[1000], C: float32[1000]):
      for bx in blockIdx.x(0, 4):
        for tx in threadIdx.x(0, 256):
          if bx * 256 + tx < 1000:
            C[bx * 256 + tx] = A[bx * 256 + tx] + B[bx * 256 + tx]
  ->
    extern "C" __global__ void __launch_bounds__(256) add(const float* __restrict__ A,
        const float* __restrict__ B, float* __restrict__ C) {
      {
        const int bx = (int)blockIdx.x;
        { const int tx = (int)threadIdx.x; if (((bx * 256) + tx) < 1000) { C[...] = ...; } }
      }
    }

Semantics (TVM's): a loop of a GPU kind (blockIdx.x, threadIdx.y, ...) is the hardware index;
the launch dimension of a kind is the largest extent bound to it (`launch_dims`), and a loop
with a smaller extent runs under `if (threadIdx.x < extent)`. Code outside thread loops runs
redundantly in every thread. Several loops may bind the same kind (phases of one block).
`Barrier()` is `__syncthreads()`; it may not sit under such a guard (it would deadlock).

Buffers: global params are `T* __restrict__` (const when never stored), Allocate "local" is
a per-thread array (registers once `#pragma unroll` makes indices constant), "shared" a
`__shared__ __align__(16)` array. Indices are `int` when every buffer has < 2^31 elements,
else `long long`. Vector code comes from the vectorize pass at 128 bits (cuda_lanes). Integer
floordiv/floormod are exact (round toward -inf; 0 for a zero divisor like the CPU backend),
plain `/` `%` where the dividend is provably >= 0 and the divisor a positive constant.
Float min/max are the tf_fmin/tf_fmax helpers: a NaN from either side propagates, as on the CPU.
"""

from __future__ import annotations

import math
import re
import struct

from ..compiler import tir
from ..compiler.tir import BLOCK_KINDS, THREAD_KINDS, Barrier, Const, Var
from ..compiler.tir_simplify import bounds, simplify, simplify_expr
from ..compiler.tir_vectorize import vectorize
from . import cuda_lanes
from .llvm import CodegenError
from .target import CUDA_LIMITS

VECTOR_BITS = CUDA_LIMITS["vector_bits"]  # float4
MAX_THREADS = CUDA_LIMITS["max_threads_per_block"]
MAX_STATIC_SHARED = CUDA_LIMITS["shared_memory_per_block"]
C_TYPES = {"float16": "__half", "float32": "float", "float64": "double", "bool": "bool",
           "int8": "signed char", "int16": "short", "int32": "int", "int64": "long long",
           "uint8": "unsigned char", "uint16": "unsigned short", "uint32": "unsigned int",
           "uint64": "unsigned long long"}
INT_SUFFIX = {"int64": "LL", "uint32": "U", "uint64": "ULL"}
RESERVED = frozenset({"threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "int", "float",
                      "double", "char", "short", "long", "bool", "for", "if", "else", "do",
                      "while", "const", "return", "void", "min", "max", "make_float4"})
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "and": "&", "or": "|", "lt": "<",
         "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
BOOL_OPS = {"and": "&&", "or": "||", "min": "&&", "max": "||"}
# float32 intrinsics: (accurate, fast); float64 drops the "f" suffix (no fast variant).
MATH = {"exp": ("expf", "__expf"), "exp2": ("exp2f", "exp2f"), "log": ("logf", "__logf"),
        "log2": ("log2f", "__log2f"), "sqrt": ("sqrtf", "sqrtf"), "rsqrt": ("rsqrtf", "rsqrtf"),
        "fabs": ("fabsf", "fabsf"), "floor": ("floorf", "floorf"), "ceil": ("ceilf", "ceilf"),
        "round": ("rintf", "rintf"), "trunc": ("truncf", "truncf"), "pow": ("powf", "powf"),
        "sin": ("sinf", "sinf"), "cos": ("cosf", "cosf"), "tanh": ("tanhf", "tanhf"),
        "erf": ("erff", "erff"), "fmod": ("fmodf", "fmodf"), "fma": ("fmaf", "fmaf")}
_HELPER = "template <typename T> __host__ __device__ __forceinline__ T tf_{name}(T a, T b) {{\n" \
          "{body}\n}}"
HELPERS = {  # emitted once at the top of a source that uses them
    "floordiv": _HELPER.format(name="floordiv", body="  if (b == 0) return 0;\n  T q = a / b;\n"
                               "  return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;"),
    "floormod": _HELPER.format(name="floormod", body="  if (b == 0) return 0;\n  T r = a % b;\n"
                               "  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;"),
    # the CPU backend's rule (codegen/llvm.py _fcmp_select): a NaN from either side propagates
    "fmin": _HELPER.format(name="fmin", body="  return (a != a || a < b) ? a : b;"),
    "fmax": _HELPER.format(name="fmax", body="  return (a != a || a > b) ? a : b;"),
}


class CudaCodegenError(CodegenError):
    """The loop IR cannot become a valid CUDA kernel (bad nesting, launch limits, dtypes)."""


def launch_dims(func: tir.PrimFunc) -> tuple:
    """((grid x, y, z), (block x, y, z)): per GPU kind, the largest extent of its loops."""
    dims = dict.fromkeys(BLOCK_KINDS + THREAD_KINDS, 1)
    for loop in tir.walk(func.body):
        if isinstance(loop, tir.For) and loop.kind in tir.GPU_LOOP_KINDS:
            extent = simplify_expr(loop.extent)
            if not isinstance(extent, Const):
                raise CudaCodegenError(f"{func.name}: {loop.kind} loop {loop.var.name} has extent "
                                       f"{extent}, launch dimensions must be constants")
            dims[loop.kind] = max(dims[loop.kind], extent.value)
    grid, block = (tuple(dims[k] for k in kinds) for kinds in (BLOCK_KINDS, THREAD_KINDS))
    if math.prod(block) > MAX_THREADS:
        raise CudaCodegenError(f"{func.name}: block {block} has {math.prod(block)} threads, "
                               f"CUDA allows at most {MAX_THREADS}")
    return grid, block


def kernel_name(func: tir.PrimFunc) -> str:
    """The C symbol of the kernel (what CuPy's get_function looks up)."""
    return re.sub(r"\W", "_", func.name)


def _check_nesting(func: tir.PrimFunc):
    """Blocks may not nest in threads, GPU loops and barriers not in vectorized loops; loops
    may not be CPU-parallel. A GPU loop inside a loop of its own kind is the same hardware
    index (a cooperative phase, such as a shared-memory load, inside each thread's work), so
    it may not be wider than that loop."""
    def visit(s, outer: tuple):
        if isinstance(s, Barrier) and tir.VECTORIZED in (k for k, _ in outer):
            raise CudaCodegenError(f"{func.name}: barrier inside a vectorized loop")
        if isinstance(s, tir.For):
            where = f"{func.name}: {s.kind} loop {s.var.name}"
            kinds = [k for k, _ in outer]
            extent = simplify_expr(s.extent)
            if s.kind == tir.PARALLEL:
                raise CudaCodegenError(f"{where}: CPU-parallel loops do not run on a GPU; "
                                       "bind it to blockIdx/threadIdx")
            wider = [e for k, e in outer if k == s.kind and e is not None and e < extent.value] \
                if s.kind in tir.GPU_LOOP_KINDS and isinstance(extent, Const) else []
            if wider:
                raise CudaCodegenError(f"{where} has extent {extent.value} inside a {s.kind} "
                                       f"loop of extent {wider[0]}: the same thread index "
                                       "cannot be wider there")
            if s.kind in tir.GPU_LOOP_KINDS and tir.VECTORIZED in kinds:
                raise CudaCodegenError(f"{where} nests inside a vectorized loop")
            if s.kind in BLOCK_KINDS and any(k in THREAD_KINDS for k in kinds):
                raise CudaCodegenError(f"{where} nests inside a threadIdx loop")
            bound = extent.value if isinstance(extent, Const) else None
            outer = outer + ((s.kind, bound),)
        for c in tir.children(s):
            if isinstance(c, tir.Stmt):
                visit(c, outer)
    visit(func.body, ())


def _index_type(func: tir.PrimFunc, allocs: list) -> str:
    """C type of index loop variables: int when every buffer is static with < 2^31 elements
    and no index is passed in (TVM narrows likewise), else long long."""
    buffers = list(func.buffers) + allocs
    narrow = all(isinstance(b.size, int) and b.size < 2 ** 31 for b in buffers) and \
        not any(isinstance(p, Var) and p.dtype == tir.INDEX for p in func.params)
    return "int" if narrow else "long long"


def _float_literal(value: float, dtype: str) -> str:
    if math.isfinite(value) and dtype == "float32":
        return f"{struct.unpack('<f', struct.pack('<f', value))[0]!r}f"  # the float32 value
    if math.isfinite(value):
        return repr(value)
    if dtype == "float32":
        return f"__int_as_float(0x{struct.unpack('<I', struct.pack('<f', value))[0]:08x})"
    return f"__longlong_as_double(0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016x}LL)"


class _Emitter:
    """Walks the lowered loop IR, appending C lines; names every Var/Buffer uniquely."""

    def __init__(self, func: tir.PrimFunc, fast_math: bool):
        self.func, self.fast = func, fast_math
        self.grid, self.threads = launch_dims(func)
        self.launch = dict(zip(BLOCK_KINDS + THREAD_KINDS, self.grid + self.threads))
        allocs = [n.buffer for n in tir.walk(func.body) if isinstance(n, tir.Allocate)]
        self.index_type = _index_type(func, allocs)
        self.names, self.taken, self.lane_vars = {}, set(), {}
        self.helpers, self.ranges, self.lines = set(), {}, []
        self.depth, self.guards, self.shared_bytes = 1, 0, 0
        self.thread_vars: set = set()  # vars of the enclosing threadIdx loops

    # ------------------------------------------------------------ names and types
    def name(self, obj) -> str:
        if obj not in self.names:
            base = re.sub(r"\W", "_", obj.name) or "v"
            base = "_" + base if base[0].isdigit() or base in RESERVED else base
            name, k = base, 0
            while name in self.taken:
                k += 1
                name = f"{base}_{k}"
            self.taken.add(name)
            self.names[obj] = name
        return self.names[obj]

    def ctype(self, dtype: str) -> str:
        if tir.lanes(dtype) != 1 or dtype not in C_TYPES:
            raise CudaCodegenError(f"{self.func.name}: dtype {dtype} has no CUDA scalar type")
        return C_TYPES[dtype]

    def loop_type(self, v: Var) -> str:
        """Loop variables of the index dtype are narrowed to `int` when indices fit."""
        return self.index_type if v.dtype == tir.INDEX else self.ctype(v.dtype)

    def var_lane(self, v: Var, k: int) -> Var:
        if (v, k) not in self.lane_vars:
            self.lane_vars[(v, k)] = Var(f"{v.name}_{k}", tir.element(v.dtype))
        return self.lane_vars[(v, k)]

    # ------------------------------------------------------------ expressions
    def expr(self, e: tir.Expr) -> str:
        if tir.lanes(e.dtype) != 1:
            raise CudaCodegenError(f"{self.func.name}: vector expression {e} outside a vector "
                                   "store or let")
        return getattr(self, "e_" + type(e).__name__)(e)

    def top(self, e: tir.Expr) -> str:
        text = self.expr(e)  # every Binary/Compare text starting with "(" is wrapped whole
        return text[1:-1] if isinstance(e, (tir.Binary, tir.Compare)) and text[0] == "(" \
            else text

    def e_Var(self, e):
        return self.name(e)

    def e_Const(self, e):
        if tir.is_float(e.dtype):
            text = _float_literal(e.value, "float64" if e.dtype == "float64" else "float32")
            return f"__float2half({text})" if e.dtype == "float16" else text
        if e.dtype == "bool":
            return "true" if e.value else "false"
        suffix = "" if -2 ** 31 <= e.value < 2 ** 31 else INT_SUFFIX.get(e.dtype, "")
        return f"({e.value}{suffix})" if e.value < 0 else f"{e.value}{suffix}"

    def e_Binary(self, e):
        a, b, kind = self.expr(e.a), self.expr(e.b), _kind(e.dtype)
        if kind == "bool" and e.op in BOOL_OPS:
            return f"({a} {BOOL_OPS[e.op]} {b})"
        if e.op in INFIX:
            return f"({a} {INFIX[e.op]} {b})"
        if e.op in ("min", "max") and kind == "float":
            self.helpers.add("f" + e.op)
            return f"tf_f{e.op}<{self.ctype(e.dtype)}>({a}, {b})"
        if e.op in ("min", "max"):  # one C type for both: CUDA overloads min/max per type
            t = self.ctype(e.dtype)
            return f"{e.op}(({t}){a}, ({t}){b})"
        return self.divmod(e, a, b, kind)

    def divmod(self, e, a: str, b: str, kind: str) -> str:
        """floordiv/floormod: floorf for floats, C `/` `%` when provably the same, else helpers."""
        if kind == "float":
            f = "floorf" if e.dtype == "float32" else "floor"
            return f"{f}({a} / {b})" if e.op == "floordiv" else f"({a} - {f}({a} / {b}) * {b})"
        lo = bounds(e.a, self.ranges)
        if kind == "uint" or (isinstance(e.b, Const) and e.b.value > 0 and lo and lo[0] >= 0):
            return f"({a} {'/' if e.op == 'floordiv' else '%'} {b})"
        self.helpers.add(e.op)
        return f"tf_{e.op}<{self.ctype(e.dtype)}>({a}, {b})"

    def e_Compare(self, e):
        return f"({self.expr(e.a)} {INFIX[e.op]} {self.expr(e.b)})"

    def e_Select(self, e):
        return f"({self.expr(e.cond)} ? {self.expr(e.t)} : {self.expr(e.f)})"

    def e_Cast(self, e):
        return f"(({self.ctype(e.dtype)}){self.expr(e.x)})"

    def e_Call(self, e):
        if e.dtype not in ("float32", "float64"):
            raise CudaCodegenError(f"{self.func.name}: intrinsic {e.name} on {e.dtype} "
                                   "(float32/float64 only)")
        args = ", ".join(self.top(a) for a in e.args)
        if e.name == "sigmoid":
            one = "1.0f" if e.dtype == "float32" else "1.0"
            return f"({one} / ({one} + {self._math('exp', e.dtype)}(-{self.expr(e.args[0])})))"
        return f"{self._math(e.name, e.dtype)}({args})"

    def _math(self, name: str, dtype: str) -> str:
        accurate, fast = MATH[name]
        return (fast if self.fast else accurate) if dtype == "float32" else accurate[:-1]

    def e_Load(self, e):
        if e.mask is not None:
            return f"({self.expr(e.mask)} ? {self.name(e.buffer)}[{self.top(e.index)}] : 0)"
        return f"{self.name(e.buffer)}[{self.top(e.index)}]"

    # ------------------------------------------------------------ statements
    def emit(self, line: str):
        self.lines.append("  " * self.depth + line)

    def block(self, head: str, body, tail: str = "}"):
        """`head {`, the body statement one level deeper, then `}`."""
        self.emit(f"{head} {{" if head else "{")
        self.depth += 1
        body() if callable(body) else self.stmt(body)
        self.depth -= 1
        self.emit(tail)

    def stmt(self, s: tir.Stmt):
        getattr(self, "s_" + type(s).__name__)(s)

    def s_Seq(self, s):
        for c in s.stmts:
            self.stmt(c)

    def s_Barrier(self, s):
        if self.guards:
            raise CudaCodegenError(f"{self.func.name}: barrier inside a thread loop shorter "
                                   "than the block or an `if` on a thread index; not every "
                                   "thread would reach it")
        self.emit("__syncthreads();")

    def s_IfThenElse(self, s):
        divergent = bool(self.thread_vars.intersection(tir.free_vars(s.cond)))
        self.guards += divergent  # threads may differ here: no barrier below
        self.block(f"if ({self.top(s.cond)})", s.then_case)
        if s.else_case is not None:
            self.lines[-1] += " else {"
            self.depth += 1
            self.stmt(s.else_case)
            self.depth -= 1
            self.emit("}")
        self.guards -= divergent

    def s_LetStmt(self, s):
        def body():
            for name, value in self.lanes_of(s.var, s.value):
                self.emit(f"const {self.ctype(tir.element(s.var.dtype))} {name} = {value};")
            self.stmt(s.body)
        self.block("", body)

    def s_Store(self, s):
        buf = self.name(s.buffer)
        if tir.lanes(s.index.dtype) == 1:
            store = f"{buf}[{self.top(s.index)}] = {self.top(s.value)};"
            self.emit(store if s.mask is None else f"if ({self.top(s.mask)}) {store}")
            return
        values = [v for _, v in self.lanes_of(None, s.value)]
        if s.mask is None and cuda_lanes.wide(s.index, s.buffer):
            ptr = f"&{buf}[{self.top(s.index.base)}]"
            self.emit(f"*reinterpret_cast<float4*>({ptr}) = make_float4({', '.join(values)});")
            return
        for k, value in enumerate(values):
            index = self.top(cuda_lanes.lane(s.index, k, self.var_lane))
            store = f"{buf}[{index}] = {value};"
            mask = None if s.mask is None else cuda_lanes.lane(s.mask, k, self.var_lane)
            self.emit(store if mask is None else f"if ({self.top(mask)}) {store}")

    def lanes_of(self, var: Var | None, value: tir.Expr) -> list:
        """(C name, C text) per lane of `value`; float4 loads are hoisted into temporaries."""
        n = tir.lanes(value.dtype)
        if n == 1:
            return [(self.name(var) if var else "", self.top(value))]
        mapping = {}
        for load in cuda_lanes.wide_loads(value):
            tmp = Var("v4", "float32x4")
            ptr = f"&{self.name(load.buffer)}[{self.top(load.index.base)}]"
            self.emit(f"const float4 {self.name(tmp)} = "
                      f"*reinterpret_cast<const float4*>({ptr});")
            for k, field in enumerate("xyzw"):
                self.names[self.var_lane(tmp, k)] = f"{self.name(tmp)}.{field}"
            mapping[load] = tmp
        value = tir.rewrite(value, lambda e: mapping.get(e) if isinstance(e, tir.Load) else None)
        return [(self.name(self.var_lane(var, k)) if var else "",
                 self.top(cuda_lanes.lane(value, k, self.var_lane))) for k in range(n)]

    def s_Allocate(self, s):
        b = s.buffer
        size = simplify_expr(tir.as_expr(b.size))
        if not isinstance(size, Const):
            raise CudaCodegenError(f"{self.func.name}: allocation {b.name} has size {size}; "
                                   "GPU allocations need a constant size")
        decl = f"{self.ctype(b.dtype)} {self.name(b)}[{size.value}];"
        if b.scope == "shared":
            self.shared_bytes += size.value * tir.bits(b.dtype) // 8
            decl = "__shared__ __align__(16) " + decl
        elif b.scope != "local":
            raise CudaCodegenError(f"{self.func.name}: allocation {b.name} in scope {b.scope!r} "
                                   "(GPU kernels allocate 'local' or 'shared')")

        def body():
            self.emit(decl)
            self.stmt(s.body)
        self.block("", body)

    def s_For(self, s):
        lo, ext = simplify_expr(s.min), simplify_expr(s.extent)
        lo_b, ext_b = bounds(lo, self.ranges), bounds(ext, self.ranges)
        if lo_b and ext_b:
            self.ranges[s.var] = (lo_b[0], lo_b[1] + ext_b[1] - 1)
        if s.kind in tir.GPU_LOOP_KINDS:
            self.gpu_loop(s, lo, ext)
            return
        v, t = self.name(s.var), self.loop_type(s.var)
        if s.kind in (tir.UNROLLED, tir.VECTORIZED):
            self.emit("#pragma unroll")
        self.block(f"for ({t} {v} = {self.top(lo)}; {v} < {self.top(simplify_expr(lo + ext))}; "
                   f"++{v})", s.body)

    def gpu_loop(self, s, lo, ext):
        hw = f"({self.loop_type(s.var)}){s.kind}"
        start = hw if isinstance(lo, Const) and lo.value == 0 else f"{self.top(lo)} + {hw}"
        guarded = ext.value < self.launch[s.kind]
        self.guards += guarded and s.kind in THREAD_KINDS
        if s.kind in THREAD_KINDS:
            self.thread_vars.add(s.var)

        def body():
            self.emit(f"const {self.loop_type(s.var)} {self.name(s.var)} = {start};")
            if guarded:
                self.block(f"if ({s.kind} < {ext.value})", s.body)
            else:
                self.stmt(s.body)
        self.block("", body)
        self.guards -= guarded and s.kind in THREAD_KINDS

    # ------------------------------------------------------------ the kernel
    def param(self, p) -> str:
        if isinstance(p, Var):
            return f"{self.ctype(p.dtype)} {self.name(p)}"
        if p.scope != "global":
            raise CudaCodegenError(f"{self.func.name}: parameter {p.name} has scope {p.scope!r}")
        const = "" if p in self.written else "const "
        return f"{const}{self.ctype(p.dtype)}* __restrict__ {self.name(p)}"

    def source(self, body: tir.Stmt) -> str:
        self.written = {n.buffer for n in tir.walk(body) if isinstance(n, tir.Store)}
        params = ",\n    ".join(self.param(p) for p in self.func.params)
        self.stmt(body)
        if self.shared_bytes > MAX_STATIC_SHARED:
            raise CudaCodegenError(f"{self.func.name}: {self.shared_bytes} bytes of shared "
                                   f"memory, static allocations allow {MAX_STATIC_SHARED}")
        threads = math.prod(self.threads)
        head = [f"// TensorForge CUDA kernel {self.func.name}: grid {self.grid}, "
                f"block {self.threads}"]
        if any(b.dtype == "float16" for b in self.func.buffers):
            head.append("#include <cuda_fp16.h>")
        head += [HELPERS[h] for h in sorted(self.helpers)]
        sig = f'extern "C" __global__ void __launch_bounds__({threads}) ' \
              f"{kernel_name(self.func)}(\n    {params}) {{"
        return "\n".join(head + [sig] + self.lines + ["}", ""])


def _kind(dtype: str) -> str:
    e = tir.element(dtype)
    return "float" if tir.is_float(e) else "bool" if e == "bool" else "uint" if e[0] == "u" \
        else "int"


def lower_cuda(func: tir.PrimFunc) -> tir.PrimFunc:
    """The loop IR the emitter reads: simplified, vectorized loops as 128-bit vector code."""
    _check_nesting(func)
    return vectorize(func.with_body(simplify(func.body)), VECTOR_BITS)


def cuda_source(func: tir.PrimFunc, fast_math: bool = True) -> str:
    """CUDA C source of `func` (`fast_math`: __expf/__logf for float32 exp/log/sigmoid)."""
    lowered = lower_cuda(func)
    return _Emitter(lowered, fast_math).source(lowered.body)
