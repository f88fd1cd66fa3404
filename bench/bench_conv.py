"""GFLOP/s of the conv templates' default schedules against ONNX Runtime, per distinct conv
group of ResNet-18 and MobileNetV2 (conv + bias + its fused epilogue: residual Add, Relu,
Clip, as tensorforge.compiler.optimize groups them; `t` names the template: d = depthwise,
c = conv2d_nchwc).

    python bench/bench_conv.py [--threads 1,2] [--models resnet18,mobilenetv2]

ONNX Runtime runs the same group as a one-node-chain ONNX model (Conv[+Add][+Relu|Clip],
ORT_ENABLE_ALL, intra_op_num_threads = the same thread count). Each thread count runs in a
child process with TENSORFORGE_NUM_THREADS set. Totals weight each shape by how often the
model uses it; ratio = ORT time / our time (> 1: we are faster).
"""

import argparse
import os
import platform
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compiler"))
from conv_testing import CLIP, EPILOGUES, build_conv, conv_node, has_residual  # noqa: E402

from tensorforge.benchmark import best_seconds  # noqa: E402
from tensorforge.codegen import Target  # noqa: E402
from tensorforge.compiler import from_onnx, optimize  # noqa: E402
from tensorforge.compiler.templates.conv2d import CONV2D  # noqa: E402
from tensorforge.compiler.templates.conv2d_depthwise import DEPTHWISE  # noqa: E402
from tensorforge.compiler.topi.conv import geometry  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"
EPILOGUE_NAMES = {ops: name for name, ops in EPILOGUES.items()}


def model_convs(name: str) -> Counter:
    """(x shape, w shape, attrs, epilogue) -> count, for each conv group of the model."""
    graph = optimize(from_onnx(MODELS / f"{name}.onnx"))
    out = Counter()
    for node in graph.nodes:
        body = node.attrs["body"].nodes if node.op == "Fused" else (node,)
        conv, epi = body[0], EPILOGUE_NAMES.get(tuple(n.op for n in body[1:]))
        if conv.op != "Conv" or epi is None:
            continue
        key = (conv.inputs[0].shape, conv.inputs[1].shape, tuple(sorted(conv.attrs.items())), epi)
        out[key] += 1
    return out




def ort_seconds(node, epilogue: str, x, residual, threads: int) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    names = ["x", "w"] + (["b"] if len(node.inputs) > 2 else [])
    nodes = [helper.make_node("Conv", names, ["c"], **{k: list(v) if isinstance(v, tuple) else v
                                                         for k, v in node.attrs.items()})]
    last, feeds = "c", {"x": x}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    extra = {"Add": ["r"], "Relu": [], "Clip": ["lo", "hi"]}
    for k, op in enumerate(EPILOGUES[epilogue]):
        nodes.append(helper.make_node(op, [last] + extra[op], [f"e{k}"]))
        last = f"e{k}"
    if has_residual(epilogue):
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(residual.shape)))
        feeds["r"] = residual
    inits = [numpy_helper.from_array(v.data, n) for v, n in zip(node.inputs[1:], names[1:])]
    if "Clip" in EPILOGUES[epilogue]:
        inits += [numpy_helper.from_array(np.float32(v), n) for v, n in zip(CLIP, ("lo", "hi"))]
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
    residual = rng.standard_normal(out.shape).astype("f4") if has_residual(epilogue) else None
    args = [x, *consts[1:]] + ([residual] if residual is not None else []) + [out]
    ours = best_seconds(lambda: kernel(*args))
    return node, template, ours, ort_seconds(node, epilogue, x, residual, threads)


def run_child(models: str, threads: int) -> None:
    for name in models.split(","):
        convs = model_convs(name)
        total_ours = total_ort = 0.0
        print(f"\n{name}, {threads} thread(s)\n{'x shape':>18} {'w shape':>18} {'s':>2} {'t':>1} "
              f"{'epilogue':>9} {'n':>2} {'ours GF/s':>10} {'ORT GF/s':>9} {'ratio':>6}")
        for key, count in convs.items():
            node, template, ours, ort_s = bench(key, threads)
            flops = geometry(node).flops()
            total_ours, total_ort = total_ours + count * ours, total_ort + count * ort_s
            kind = "d" if template is DEPTHWISE else "c"
            print(f"{str(key[0]):>18} {str(key[1]):>18} {node.attrs['strides'][0]:>2} {kind:>1} "
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
