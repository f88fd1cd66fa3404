"""Helpers for the lowering tests: lower every kernel of a graph, build it for the host, run
it on the reference executor's values of its inputs and compare with the reference's values
of its outputs."""

from __future__ import annotations

import numpy as np

from tensorforge import codegen
from tensorforge.compiler import GraphBuilder, optimize
from tensorforge.compiler.graph import Graph
from tensorforge.compiler.lower import lower_graph
from tensorforge.compiler.reference import run_graph

HOST = codegen.Target.parse("llvm")


def all_values(graph: Graph, feeds: list) -> dict:
    """Every value of `graph` (inputs, node outputs) computed by the reference executor."""
    values = [o for n in graph.nodes for o in n.outputs]
    full = Graph(graph.inputs, tuple(values), graph.nodes, graph.name)
    env = dict(zip(values, run_graph(full, dict(zip(graph.inputs, feeds)))))
    env.update(zip(graph.inputs, feeds))
    return env


def run_kernel(kernel, env: dict) -> list:
    fn = codegen.build(kernel.func, HOST)
    ins = [np.array(v.data if v.is_const else env[v], order="C") for v in kernel.inputs]
    outs = [np.full(v.shape, 7, v.dtype) for v in kernel.outputs]
    fn(*ins, *outs, *(np.full(v.shape, 7, v.dtype) for v in kernel.workspace))
    return outs


def check_graph(graph: Graph, feeds: list, rtol=1e-4, atol=1e-5, fuse=True, kernels=None):
    """Lower (after optimize) and compare every kernel with the reference; returns kernels."""
    graph = optimize(graph, fuse=fuse)
    env = all_values(graph, feeds)
    kernels = kernels or lower_graph(graph, HOST)
    for k in kernels:
        for v, got in zip(k.outputs, run_kernel(k, env)):
            want = env[v]
            if want.dtype.kind == "f":
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=k.name)
            else:
                np.testing.assert_array_equal(got, want, err_msg=k.name)
    return kernels


def rand(shape, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype) == bool:
        return rng.random(shape) < 0.5
    return rng.integers(-20, 20, shape).astype(dtype)


def single(op: str, shapes, attrs=None, dtype="float32", consts=(), seed=0, **kw):
    """Check one op applied to inputs of `shapes` (indices in `consts` become constants)."""
    b = GraphBuilder()
    ins, feeds = [], []
    for k, s in enumerate(shapes):
        dt = dtype[k] if isinstance(dtype, (tuple, list)) else dtype
        data = rand(s, seed + k, dt)
        if k in consts:
            ins.append(b.const(data, f"c{k}"))
        else:
            ins.append(b.input(f"x{k}", s, dt))
            feeds.append(data)
    outs = b.emit(op, ins, attrs or {})
    return check_graph(b.build(outs), feeds, fuse=False, **kw)
