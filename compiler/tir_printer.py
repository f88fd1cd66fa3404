"""Readable pseudo-code for the loop IR, used by str() and by golden-IR tests:

    func add(A: float32[17], B: float32[17], C: float32[17]):
      for i in vectorized(0, 17):
        C[i] = A[i] + B[i]
"""

from __future__ import annotations

from . import tir

INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "floormod": "%",
         "and": "&&", "or": "||", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==",
         "ne": "!="}


def _const(e: tir.Const) -> str:
    if tir.is_float(e.dtype):
        return repr(e.value) if e.dtype == "float32" else f"{e.value!r}:{e.dtype}"
    return str(e.value) if e.dtype in (tir.INDEX, "bool") else f"{e.value}:{e.dtype}"


def _load(e: tir.Load) -> str:
    mask = "" if e.mask is None else f", mask={format_expr(e.mask)}"
    return f"{e.buffer.name}[{format_top(e.index)}{mask}]"


EXPR = {
    tir.Var: lambda e: e.name,
    tir.Const: _const,
    tir.Binary: lambda e: (f"({format_expr(e.a)} {INFIX[e.op]} {format_expr(e.b)})" if e.op in INFIX
                           else f"{e.op}({format_expr(e.a)}, {format_expr(e.b)})"),
    tir.Compare: lambda e: f"({format_expr(e.a)} {INFIX[e.op]} {format_expr(e.b)})",
    tir.Select: lambda e: f"select({format_expr(e.cond)}, {format_expr(e.t)}, {format_expr(e.f)})",
    tir.Cast: lambda e: f"{e.dtype}({format_expr(e.x)})",
    tir.Call: lambda e: f"{e.name}({', '.join(map(format_expr, e.args))})",
    tir.Load: _load,
    tir.Ramp: lambda e: f"ramp({format_expr(e.base)}, {format_expr(e.stride)}, {e.lanes})",
    tir.Broadcast: lambda e: f"broadcast({format_expr(e.value)}, {e.lanes})",
}


def format_expr(e: tir.Expr) -> str:
    return EXPR[type(e)](e)


def format_top(e: tir.Expr) -> str:
    """An expression standing alone (statement value, index): no outer parentheses."""
    return _strip(format_expr(e))


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _lines(s: tir.Stmt, indent: str) -> list[str]:
    pad = indent + "  "
    if isinstance(s, tir.Seq):
        return [line for st in s.stmts for line in _lines(st, indent)]
    if isinstance(s, tir.For):
        lo, ext = format_expr(s.min), format_expr(s.extent)
        return [f"{indent}for {s.var.name} in {s.kind}({lo}, {ext}):"] + _lines(s.body, pad)
    if isinstance(s, tir.Store):
        text = f"{s.buffer.name}[{format_top(s.index)}] = {format_top(s.value)}"
        return [indent + (text if s.mask is None else f"{text}  # mask={format_expr(s.mask)}")]
    if isinstance(s, tir.Allocate):
        b = s.buffer
        head = f"{indent}{b.name} = allocate({b.dtype}, {list(b.shape)}, {b.scope})"
        return [head] + _lines(s.body, indent)
    if isinstance(s, tir.IfThenElse):
        out = [f"{indent}if {format_top(s.cond)}:"] + _lines(s.then_case, pad)
        return out + ([f"{indent}else:"] + _lines(s.else_case, pad) if s.else_case else [])
    if isinstance(s, tir.Barrier):
        return [f"{indent}barrier()"]
    if isinstance(s, tir.LetStmt):
        return [f"{indent}{s.var.name} = {format_top(s.value)}"] + _lines(s.body, indent)
    raise TypeError(f"not a statement: {s!r}")


def _strip(text: str) -> str:
    """Drop one pair of outer parentheses when they enclose the whole text."""
    return text[1:-1] if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]) \
        else text


def format_stmt(s: tir.Stmt) -> str:
    return "\n".join(_lines(s, ""))


def _param(p) -> str:
    if isinstance(p, tir.Buffer):
        return f"{p.name}: {p.dtype}[{', '.join(map(str, p.shape))}]"
    return f"{p.name}: {p.dtype}"


def format_func(f: tir.PrimFunc) -> str:
    head = f"func {f.name}({', '.join(map(_param, f.params))}):"
    return "\n".join([head] + _lines(f.body, "  "))
