"""GFLOP/s of the conv templates' default schedules against ONNX Runtime, per distinct conv
of ResNet-18 (conv + bias (+ residual Add) (+ Relu), as tensorforge.compiler.optimize groups
them) and per depthwise conv of MobileNetV2 (+ Relu).

    python bench/bench_conv.py [--threads 1,2] [--models resnet18,mobilenetv2]

ONNX Runtime runs the same group as a one-node-chain ONNX model (Conv[+Add]+Relu,
ORT_ENABLE_ALL, intra_op_num_threads = the same thread count). Each thread count runs in a
child process with TENSORFORGE_NUM_THREADS set. Totals weight each shape by how often the
model uses it; ratio = ORT time / our time (> 1: we are faster).
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compiler"))
from conv_testing import build_conv, conv_node  # noqa: E402

from tensorforge.codegen import Target  # noqa: E402
from tensorforge.compiler import from_onnx, optimize  # noqa: E402
from tensorforge.compiler.templates.conv2d import CONV2D  # noqa: E402
from tensorforge.compiler.templates.conv2d_depthwise import DEPTHWISE  # noqa: E402
from tensorforge.compiler.topi.conv import geometry  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"
EPILOGUE = {("Relu",): "relu", ("Add", "Relu"): "add_relu", (): ""}


def model_convs(name: str, depthwise_only: bool) -> Counter:
    """(x shape, w shape, attrs, epilogue) -> count, for each conv group of the model."""
    graph = optimize(from_onnx(MODELS / f"{name}.onnx"))
    out = Counter()
    for node in graph.nodes:
        body = node.attrs["body"].nodes if node.op == "Fused" else (node,)
        conv = body[0]
        if conv.op != "Conv":
            continue
        if depthwise_only != (conv.attrs["group"] > 1):
            continue
        rest = tuple(n.op for n in body[1:])
        epi = "relu" if depthwise_only else EPILOGUE.get(rest)
        if epi is None:
            continue
        key = (conv.inputs[0].shape, conv.inputs[1].shape, tuple(sorted(conv.attrs.items())), epi)
        out[key] += 1
    return out


def best_seconds(fn, repeat: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ort_seconds(node, epilogue: str, x, residual, threads: int) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    names = ["x", "w"] + (["b"] if len(node.inputs) > 2 else [])
    nodes = [helper.make_node("Conv", names, ["c"], **{k: list(v) if isinstance(v, tuple) else v
                                                         for k, v in node.attrs.items()})]
    last, feeds = "c", {"x": x}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    if epilogue == "add_relu":
        nodes.append(helper.make_node("Add", ["c", "r"], ["s"]))
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(residual.shape)))
        last, feeds["r"] = "s", residual
    if epilogue:
        nodes.append(helper.make_node("Relu", [last], ["y"]))
        last = "y"
    inits = [numpy_helper.from_array(v.data, n) for v, n in zip(node.inputs[1:], names[1:])]
    graph = helper.make_graph(nodes, "conv", inputs,
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return best_seconds(lambda: sess.run(None, feeds))


def bench(key, threads: int):
    x_shape, w_shape, attrs, epilogue = key
    rng = np.random.default_rng(0)
    w = rng.standard_normal(w_shape).astype("f4") * 0.1
    b = rng.standard_normal(w_shape[0]).astype("f4")
    node = conv_node("Conv", x_shape, w, b, **dict(attrs))
    template = DEPTHWISE if DEPTHWISE.applies(node) else CONV2D
    kernel, consts = build_conv(node, template, epilogue=epilogue)
    x = rng.standard_normal(x_shape).astype("f4")
    out = np.empty(node.outputs[0].shape, "f4")
    residual = rng.standard_normal(out.shape).astype("f4") if epilogue == "add_relu" else None
    args = [x, *consts[1:]] + ([residual] if residual is not None else []) + [out]
    ours = best_seconds(lambda: kernel(*args))
    return node, ours, ort_seconds(node, epilogue, x, residual, threads)


def run_child(models: str, threads: int) -> None:
    for name in models.split(","):
        convs = model_convs(name, depthwise_only=name.startswith("mobilenet"))
        total_ours = total_ort = 0.0
        print(f"\n{name}, {threads} thread(s)\n{'x shape':>18} {'w shape':>18} {'s':>2} "
              f"{'epilogue':>9} {'n':>2} {'ours GF/s':>10} {'ORT GF/s':>9} {'ratio':>6}")
        for key, count in convs.items():
            node, ours, ort_s = bench(key, threads)
            flops = geometry(node).flops()
            total_ours, total_ort = total_ours + count * ours, total_ort + count * ort_s
            print(f"{str(key[0]):>18} {str(key[1]):>18} {node.attrs['strides'][0]:>2} "
                  f"{key[3] or '-':>9} {count:>2} {flops / ours / 1e9:10.1f} "
                  f"{flops / ort_s / 1e9:9.1f} {ort_s / ours:6.2f}", flush=True)
        print(f"{name} total: ours {total_ours * 1e3:.2f} ms, ORT {total_ort * 1e3:.2f} ms, "
              f"ratio {total_ort / total_ours:.2f} (threads={threads})", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default="resnet18,mobilenetv2")
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        run_child(args.models, args.child)
        return
    print(f"cpu: {platform.processor() or platform.machine()} "
          f"({_cpu_model()}), target: {Target.parse('llvm')}")
    for threads in args.threads.split(","):
        env = dict(os.environ, TENSORFORGE_NUM_THREADS=threads)
        subprocess.run([sys.executable, __file__, "--child", threads, "--models", args.models],
                       env=env, check=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
