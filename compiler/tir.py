"""Loop IR (TIR): explicit loops, loads, stores and allocations over flat buffers.

Both backends consume this IR, schedules lower into it and the tuner extracts features from
it. Every node is a small frozen dataclass; expressions compare structurally, while `Var` and
`Buffer` compare by identity (two loops may both call their variable "i").

Dtypes are strings: "float32", "int64", "bool", and vector types "float32x16" (16 lanes).
Buffers are flat: `Load(buf, index)` reads element `index` of `buf`; `buf[i, j]` builds the
flat index from the buffer's strides. Vector code indexes with `Ramp(base, stride, lanes)`
(lanes consecutive indices) and splats scalars with `Broadcast(value, lanes)`.

Hand-written IR reads like math thanks to operator overloading:

    i = Var("i")
    body = For(i, 0, n, "vectorized", C.store(i, A[i] * 2.0 + B[i]))
    print(PrimFunc("axpy", (A, B, C), body))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator, Union

INDEX = "int64"  # dtype of loop variables and buffer indices

# ---------------------------------------------------------------- dtypes


def lanes(dtype: str) -> int:
    """Number of vector lanes of a dtype: "float32x16" -> 16, "float32" -> 1."""
    base, _, n = dtype.partition("x")
    return int(n) if n else 1


def element(dtype: str) -> str:
    """Scalar element type: "float32x16" -> "float32"."""
    return dtype.partition("x")[0]


def with_lanes(dtype: str, n: int) -> str:
    """The dtype with `n` lanes (n == 1 is the scalar type)."""
    return element(dtype) if n == 1 else f"{element(dtype)}x{n}"


def is_float(dtype: str) -> bool:
    return element(dtype).startswith(("float", "bfloat"))


def is_int(dtype: str) -> bool:
    return element(dtype).startswith(("int", "uint"))


def bits(dtype: str) -> int:
    """Width in bits of one element ("bool" counts as 8, its storage size)."""
    e = element(dtype)
    return 8 if e == "bool" else int(e.lstrip("abcdefghijklmnopqrstuvwxyz"))


# ---------------------------------------------------------------- op families

ARITH_OPS = frozenset({"add", "sub", "mul", "div", "floordiv", "floormod", "min", "max"})
LOGIC_OPS = frozenset({"and", "or"})
BINARY_OPS = ARITH_OPS | LOGIC_OPS
COMPARE_OPS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
# "div" is true division on floats and C (truncating) division on integers.
COMMUTATIVE_OPS = frozenset({"add", "mul", "min", "max", "and", "or", "eq", "ne"})
INTRINSICS = frozenset({"exp", "exp2", "log", "log2", "sqrt", "rsqrt", "fabs", "floor", "ceil",
                        "round", "trunc", "pow", "fmod", "sin", "cos", "tanh", "erf", "sigmoid",
                        "fma"})

SERIAL, PARALLEL, VECTORIZED, UNROLLED = "serial", "parallel", "vectorized", "unrolled"
CPU_LOOP_KINDS = frozenset({SERIAL, PARALLEL, VECTORIZED, UNROLLED})
BLOCK_KINDS = ("blockIdx.x", "blockIdx.y", "blockIdx.z")      # in x, y, z order (launch dims)
THREAD_KINDS = ("threadIdx.x", "threadIdx.y", "threadIdx.z")
GPU_LOOP_KINDS = frozenset(BLOCK_KINDS + THREAD_KINDS)
LOOP_KINDS = CPU_LOOP_KINDS | GPU_LOOP_KINDS
# What a CUDA block may use: read by the GPU templates (tile choices) and by codegen and
# Target (checks, properties), so both sides agree.
CUDA_LIMITS = {"warp_size": 32, "max_threads_per_block": 1024,
               "shared_memory_per_block": 48 * 1024, "vector_bits": 128}


def target_kind(target) -> str:
    """"llvm" or "cuda" for a Target, its text, or None (the host CPU): which loop kinds run."""
    if target is None:
        return "llvm"
    return getattr(target, "kind", None) or str(target).split()[0]


# ---------------------------------------------------------------- expressions


class Expr:
    """Base of expressions. Python operators build IR; `==` stays structural equality,
    so comparisons are spelled `a.eq(b)` / `a.ne(b)`."""

    dtype: str

    def __add__(self, o): return Binary("add", self, as_expr(o, self))
    def __radd__(self, o): return Binary("add", as_expr(o, self), self)
    def __sub__(self, o): return Binary("sub", self, as_expr(o, self))
    def __rsub__(self, o): return Binary("sub", as_expr(o, self), self)
    def __mul__(self, o): return Binary("mul", self, as_expr(o, self))
    def __rmul__(self, o): return Binary("mul", as_expr(o, self), self)
    def __truediv__(self, o): return Binary("div", self, as_expr(o, self))
    def __rtruediv__(self, o): return Binary("div", as_expr(o, self), self)
    def __floordiv__(self, o): return Binary("floordiv", self, as_expr(o, self))
    def __rfloordiv__(self, o): return Binary("floordiv", as_expr(o, self), self)
    def __mod__(self, o): return Binary("floormod", self, as_expr(o, self))
    def __rmod__(self, o): return Binary("floormod", as_expr(o, self), self)
    def __neg__(self): return Binary("sub", as_expr(0, self), self)
    def __and__(self, o): return Binary("and", self, as_expr(o, self))
    def __or__(self, o): return Binary("or", self, as_expr(o, self))
    def __lt__(self, o): return Compare("lt", self, as_expr(o, self))
    def __le__(self, o): return Compare("le", self, as_expr(o, self))
    def __gt__(self, o): return Compare("gt", self, as_expr(o, self))
    def __ge__(self, o): return Compare("ge", self, as_expr(o, self))
    def eq(self, o): return Compare("eq", self, as_expr(o, self))
    def ne(self, o): return Compare("ne", self, as_expr(o, self))

    def __str__(self) -> str:
        from .tir_printer import format_top
        return format_top(self)


@dataclass(frozen=True, eq=False, repr=False)
class Var(Expr):
    """A scalar variable (loop index, let binding, scalar parameter); identity-compared."""

    name: str
    dtype: str = INDEX

    def __repr__(self) -> str:
        return f"Var({self.name!r}, {self.dtype!r})"


@dataclass(frozen=True)
class Const(Expr):
    value: Union[int, float, bool]
    dtype: str = INDEX

    def __post_init__(self):
        cast = float if is_float(self.dtype) else bool if element(self.dtype) == "bool" else int
        object.__setattr__(self, "value", cast(self.value))


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    a: Expr
    b: Expr

    def __post_init__(self):
        assert self.op in BINARY_OPS, f"unknown binary op {self.op!r}"

    @property
    def dtype(self) -> str:
        return self.a.dtype


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    a: Expr
    b: Expr

    def __post_init__(self):
        assert self.op in COMPARE_OPS, f"unknown comparison {self.op!r}"

    @property
    def dtype(self) -> str:
        return with_lanes("bool", lanes(self.a.dtype))


@dataclass(frozen=True)
class Select(Expr):
    """`cond ? t : f`, lane-wise for vectors; both sides are evaluated."""

    cond: Expr
    t: Expr
    f: Expr

    @property
    def dtype(self) -> str:
        return self.t.dtype


@dataclass(frozen=True)
class Cast(Expr):
    dtype: str
    x: Expr


@dataclass(frozen=True)
class Call(Expr):
    """A math intrinsic (see INTRINSICS); dtype defaults to the first argument's."""

    name: str
    args: tuple
    dtype: str = ""

    def __post_init__(self):
        assert self.name in INTRINSICS, f"unknown intrinsic {self.name!r}"
        object.__setattr__(self, "args", tuple(self.args))
        if not self.dtype:
            object.__setattr__(self, "dtype", self.args[0].dtype)


@dataclass(frozen=True)
class Load(Expr):
    """buffer[index]; a vector index loads several lanes; `mask` (bool vector) guards lanes."""

    buffer: "Buffer"
    index: Expr
    mask: Expr | None = None

    def __post_init__(self):
        object.__setattr__(self, "index", as_expr(self.index))

    @property
    def dtype(self) -> str:
        return with_lanes(self.buffer.dtype, lanes(self.index.dtype))


@dataclass(frozen=True)
class Ramp(Expr):
    """The vector [base, base + stride, ..., base + (lanes - 1) * stride]."""

    base: Expr
    stride: Expr
    lanes: int

    def __post_init__(self):
        object.__setattr__(self, "base", as_expr(self.base))
        object.__setattr__(self, "stride", as_expr(self.stride, self.base))

    @property
    def dtype(self) -> str:
        return with_lanes(self.base.dtype, self.lanes)


@dataclass(frozen=True)
class Broadcast(Expr):
    """A scalar splatted to `lanes` lanes."""

    value: Expr
    lanes: int

    @property
    def dtype(self) -> str:
        return with_lanes(self.value.dtype, self.lanes)


def as_expr(x, like: Expr | None = None) -> Expr:
    """Python numbers become Consts of `like`'s element type (or int64 / float32)."""
    if isinstance(x, Expr):
        return x
    dtype = element(like.dtype) if like is not None else ("float32" if isinstance(x, float) else INDEX)
    if isinstance(x, float) and not is_float(dtype):
        dtype = "float32"
    c = Const(x, dtype)
    n = lanes(like.dtype) if like is not None else 1
    return Broadcast(c, n) if n > 1 else c


def const(value, dtype: str = INDEX) -> Const:
    return Const(value, dtype)


def min_(a, b) -> Expr:
    a = as_expr(a, b if isinstance(b, Expr) else None)
    return Binary("min", a, as_expr(b, a))


def max_(a, b) -> Expr:
    a = as_expr(a, b if isinstance(b, Expr) else None)
    return Binary("max", a, as_expr(b, a))


def select(cond: Expr, t, f) -> Expr:
    t = as_expr(t, f if isinstance(f, Expr) else None)
    return Select(cond, t, as_expr(f, t))


def cast(dtype: str, x: Expr) -> Expr:
    x = as_expr(x)
    return x if x.dtype == dtype else Cast(dtype, x)


def call(name: str, *args, dtype: str = "") -> Call:
    first = as_expr(args[0])
    return Call(name, (first,) + tuple(as_expr(a, first) for a in args[1:]), dtype)


# ---------------------------------------------------------------- buffers


@dataclass(frozen=True, eq=False)
class Buffer:
    """A flat array of `dtype` viewed with `shape` and `strides` (in elements, row-major by
    default). scope "global" buffers are kernel parameters; "local" ones are Allocate'd on the
    stack (accumulator tiles that LLVM keeps in registers once loops are unrolled)."""

    name: str
    dtype: str
    shape: tuple
    strides: tuple | None = None
    offset: int = 0
    scope: str = "global"

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.strides is None:
            strides, acc = [], 1
            for d in reversed(self.shape):
                strides.append(acc)
                acc = acc * d
            object.__setattr__(self, "strides", tuple(reversed(strides)))

    @property
    def size(self):
        """Number of elements the shape covers (int when the shape is static)."""
        n = 1
        for d in self.shape:
            n = n * d
        return n

    def flat_index(self, indices) -> Expr:
        """offset + sum(index_k * stride_k) as an expression."""
        indices = indices if isinstance(indices, tuple) else (indices,)
        assert len(indices) == len(self.shape) or len(indices) == 1, \
            f"{self.name}: {len(indices)} indices for shape {self.shape}"
        if len(indices) == 1 and len(self.shape) != 1:
            return as_expr(indices[0])  # already flat
        terms = [as_expr(i) if isinstance(s, int) and s == 1 else as_expr(i) * s
                 for i, s in zip(indices, self.strides)]
        if not (isinstance(self.offset, int) and self.offset == 0):
            terms.insert(0, as_expr(self.offset))
        flat = terms[0]
        for t in terms[1:]:
            flat = flat + t
        return flat

    def __getitem__(self, indices) -> Load:
        return Load(self, self.flat_index(indices))

    def store(self, indices, value) -> "Store":
        return Store(self, self.flat_index(indices), value)

    def __repr__(self) -> str:
        return f"Buffer({self.name!r}, {self.dtype!r}, {self.shape})"


# ---------------------------------------------------------------- statements


class Stmt:
    def __str__(self) -> str:
        from .tir_printer import format_stmt
        return format_stmt(self)


@dataclass(frozen=True)
class For(Stmt):
    """for var in kind(min, min + extent): body."""

    var: Var
    min: Expr
    extent: Expr
    kind: str
    body: Stmt

    def __post_init__(self):
        assert self.kind in LOOP_KINDS, f"unknown loop kind {self.kind!r}"
        object.__setattr__(self, "min", as_expr(self.min))
        object.__setattr__(self, "extent", as_expr(self.extent))


@dataclass(frozen=True)
class Store(Stmt):
    """buffer[index] = value; vector index/value store several lanes, `mask` guards lanes."""

    buffer: Buffer
    index: Expr
    value: Expr
    mask: Expr | None = None

    def __post_init__(self):
        object.__setattr__(self, "index", as_expr(self.index))
        value = self.value
        if not isinstance(value, Expr):
            value = as_expr(value, Const(0, with_lanes(self.buffer.dtype, lanes(self.index.dtype))))
        object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class Allocate(Stmt):
    """Scratch memory for `buffer` (scope "local": stack) live during `body`."""

    buffer: Buffer
    body: Stmt


@dataclass(frozen=True)
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None


@dataclass(frozen=True)
class Seq(Stmt):
    stmts: tuple

    def __post_init__(self):
        object.__setattr__(self, "stmts", tuple(self.stmts))


@dataclass(frozen=True)
class LetStmt(Stmt):
    """let var = value in body."""

    var: Var
    value: Expr
    body: Stmt


@dataclass(frozen=True)
class Barrier(Stmt):
    """GPU block barrier (`__syncthreads()`): every thread of the block waits here, and
    shared-memory writes before it are visible after it. Schedules emit it around shared-memory
    stages (te_lower); it may not sit in a thread loop shorter than the block."""


def seq(*stmts) -> Stmt:
    """Seq of the statements, nested Seqs flattened and Nones dropped; one statement alone."""
    flat = []
    for s in stmts:
        if isinstance(s, Seq):
            flat.extend(s.stmts)
        elif s is not None:
            flat.append(s)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


@dataclass(frozen=True, eq=False)
class PrimFunc:
    """A kernel: `params` are Buffers (passed as pointers) or scalar Vars, `body` the loop nest."""

    name: str
    params: tuple
    body: Stmt
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(self.params))

    @property
    def buffers(self) -> tuple:
        return tuple(p for p in self.params if isinstance(p, Buffer))

    def with_body(self, body: Stmt) -> "PrimFunc":
        return dataclasses.replace(self, body=body)

    def __str__(self) -> str:
        from .tir_printer import format_func
        return format_func(self)


Node = Union[Expr, Stmt]

# ---------------------------------------------------------------- traversal


def children(node) -> Iterator:
    """The Expr/Stmt children of a node, in field order (Buffers and Vars are leaves)."""
    if isinstance(node, (Var, Const)):
        return
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, (Expr, Stmt)):
            yield v
        elif isinstance(v, tuple):
            yield from (c for c in v if isinstance(c, (Expr, Stmt)))


def map_children(node, fn: Callable):
    """A copy of `node` with `fn` applied to each Expr/Stmt child (the node itself if unchanged)."""
    if isinstance(node, (Var, Const)):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, (Expr, Stmt)):
            new = fn(v)
        elif isinstance(v, tuple) and any(isinstance(c, (Expr, Stmt)) for c in v):
            new = tuple(fn(c) if isinstance(c, (Expr, Stmt)) else c for c in v)
        else:
            continue
        if new is not v and new != v:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def rewrite(node, fn: Callable):
    """Bottom-up rewrite: children first, then `fn(node)` (returning None keeps the node)."""
    node = map_children(node, lambda c: rewrite(c, fn))
    out = fn(node)
    return node if out is None else out


def walk(node) -> Iterator:
    """Every node of the tree, pre-order."""
    yield node
    for c in children(node):
        yield from walk(c)


def substitute(node, mapping: dict):
    """Replace Vars by expressions (mapping keys are Var objects)."""
    if not mapping:
        return node
    return rewrite(node, lambda n: mapping.get(n) if isinstance(n, Var) else None)


def free_vars(node) -> list:
    """Vars used in `node` but not bound inside it (by For or LetStmt), in first-use order."""
    bound, seen = set(), {}
    for n in walk(node):
        if isinstance(n, For):
            bound.add(n.var)
        elif isinstance(n, LetStmt):
            bound.add(n.var)
        elif isinstance(n, Var):
            seen.setdefault(n, None)
    return [v for v in seen if v not in bound]


def buffers_of(node) -> list:
    """Buffers loaded or stored in `node` but not allocated inside it, in first-use order."""
    allocated, seen = set(), {}
    for n in walk(node):
        if isinstance(n, Allocate):
            allocated.add(n.buffer)
        elif isinstance(n, (Load, Store)):
            seen.setdefault(n.buffer, None)
    return [b for b in seen if b not in allocated]
