"""Helpers for the GPU template tests: lower graph nodes for "cuda", compile the CUDA C with
nvcc, run kernels on the CUDA emulator and compare them with the reference executor."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from emulator import emulate_launch
from tensorforge.codegen.cuda import cuda_source, kernel_name, launch_dims
from tensorforge.codegen.target import Target
from tensorforge.compiler.graph import Graph
from tensorforge.compiler.lower import lower_node
from tensorforge.compiler.ops import run_op

CUDA = Target("cuda -arch=sm_90")
NVCC = shutil.which("nvcc")


def nvcc_ptx(sources: list, tmp_path, name: str = "kernels") -> None:
    """Compile every source (kernels of distinct names) in one .cu, one nvcc call, to PTX for
    sm_90; fail with nvcc's message."""
    path = tmp_path / f"{name}.cu"
    path.write_text("\n".join(_guarded(s) for s in sources))
    done = subprocess.run([NVCC, "-arch=sm_90", "--ptx", "-o", str(tmp_path / f"{name}.ptx"),
                           str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def _guarded(source: str) -> str:
    """A source whose floordiv/floormod helper templates are defined once per .cu (include
    guards), however many sources carry them."""
    out, skip = [], False
    for line in source.splitlines():
        if line.startswith("template <typename T> __host__ __device__ __forceinline__ T tf_"):
            name = line.split("T tf_")[1].split("(")[0]
            out.append(f"#ifndef TF_HELPER_{name}\n#define TF_HELPER_{name}")
            skip = True
        out.append(line)
        if skip and line == "}":
            out.append("#endif")
            skip = False
    return "\n".join(out)


def emulate(kernel, env: dict) -> list:
    """Run a LoweredKernel on the emulator: inputs from `env` (Value -> array) or the
    constants; returns its outputs (NaN-filled first, so unwritten points show)."""
    ins = [np.array(v.data if v.is_const else env[v], dtype=v.dtype, order="C")
           for v in kernel.inputs]
    outs = [np.full(v.shape, np.nan, v.dtype) if "float" in v.dtype else np.zeros(v.shape, v.dtype)
            for v in kernel.outputs]
    grid, block = launch_dims(kernel.func)
    emulate_launch(cuda_source(kernel.func), kernel_name(kernel.func), grid, block, ins + outs)
    return outs


def reference_values(graph: Graph, feeds: dict) -> dict:
    """Every value of `graph` (optimize()'s result) by the reference executor."""
    env = dict(feeds)
    for node in graph.nodes:
        ins = [v.data if v.is_const else env[v] for v in node.inputs]
        for v, a in zip(node.outputs, run_op(node.op, ins, node.attrs)):
            env[v] = np.asarray(a)
    return env


def check_node(node, env: dict, config: dict | None = None, rtol=1e-4, atol=1e-4):
    """Lower `node` for CUDA (template default or `config`), emulate it, compare with env."""
    kernel = lower_node(node, CUDA, config)
    for v, got in zip(kernel.outputs, emulate(kernel, env)):
        np.testing.assert_allclose(got, env[v], rtol=rtol, atol=atol,
                                   err_msg=f"{kernel.name} ({kernel.template}) output {v.name}")
    return kernel
