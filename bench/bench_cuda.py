"""GPU benchmarks of issue 7, in one run on one GPU, reported as ratios (>1: TensorForge faster):

    tuned float32 GEMM 4096 x 4096 x 4096  vs cupy.matmul (cuBLAS), TF32 off on both sides
    ResNet-18, batch 1 and batch 32        vs PyTorch eager (cuDNN, TF32 off)

    python bench/bench_cuda.py [--trials 64] [--db cuda_tuning.db] [--only gemm|resnet]

The GEMM's kernel is tuned first (`--trials` configs, CUDA-event timing in worker processes,
records kept in `--db`, so a second run reuses them); ResNet-18 compiles with the same
database. Every latency is the median of time_calls (tensorforge.benchmark) around a call
that ends with a device synchronisation, CuPy arrays in and out (no host copies). Without
CuPy or a CUDA device it prints what is missing and exits 0: there is nothing to measure.
"""

from __future__ import annotations

import os

os.environ["CUPY_TF32"] = "0"  # before CuPy loads: cuBLAS in plain FP32, like our kernels

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

import tensorforge  # noqa: E402
from tensorforge.benchmark import time_calls  # noqa: E402
from tensorforge.runtime.cuda_device import CudaUnavailableError  # noqa: E402

RESNET18 = Path(__file__).resolve().parents[2] / "shared" / "models" / "resnet18.onnx"


def gemm_model(n: int) -> bytes:
    """C = A @ B, both n x n runtime inputs (so nothing is packed ahead of time)."""
    a, b, c = (helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ABC")
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm",
                              [a, b], [c])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def with_batch(path: Path, batch: int) -> bytes:
    """The model with its batch dimension (input and output) set to `batch`."""
    model = onnx.load(path)
    for v in (*model.graph.input, *model.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = batch
    del model.graph.value_info[:]
    return model.SerializeToString()


def synced(fn, cp):
    def call():
        fn()
        cp.cuda.get_current_stream().synchronize()
    return call


def tune(model: bytes, target: str, db: str, trials: int) -> None:
    from tensorforge.tuner import tune as tune_model
    from tensorforge.tuner.cuda_measure import CudaMeasurer
    summary = tune_model(model, target, db, trials=trials, early_stopping=max(8, trials // 2),
                         measure_fn=CudaMeasurer(min_repeat_ms=20), progress=False)
    for t in summary.tasks:
        print(f"  tuned {t.template}: default {t.default_gflops:.0f} -> best "
              f"{t.best_gflops:.0f} GFLOP/s ({t.measured} measured)")


def bench_gemm(cp, target: str, db: str, trials: int, n: int = 4096) -> None:
    model = gemm_model(n)
    tune(model, target, db, trials)
    module = tensorforge.compile(model, target=target, tuning_db=db)
    module.use_graph()
    rng = np.random.default_rng(0)
    a, b = (cp.asarray(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(2))
    (c,) = module.run(a, b)
    err = float(cp.abs(c - cp.matmul(a, b)).max())
    ours = time_calls(synced(lambda: module.run(a, b), cp), repeat=20).p50
    cublas = time_calls(synced(lambda: cp.matmul(a, b), cp), repeat=20).p50
    flops = 2.0 * n ** 3
    print(f"GEMM {n}: TensorForge {flops / ours / 1e12:.2f} TFLOP/s, cuBLAS "
          f"{flops / cublas / 1e12:.2f} TFLOP/s, ratio {cublas / ours:.2f}x (max |err| {err:.1e})")


def torch_resnet18():
    """torchvision's ResNet-18 layout in plain torch.nn (random weights: latency only)."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout))
            self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return (self.body(x) + self.skip(x)).relu()

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    for cin, cout, stride in [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]:
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


def bench_resnet(cp, target: str, db: str) -> None:
    try:
        import torch
    except ImportError as err:
        print(f"ResNet-18: skipped, PyTorch is missing ({err})")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    net = torch_resnet18().cuda().eval()
    for batch in (1, 32):
        module = tensorforge.compile(with_batch(RESNET18, batch), target=target, tuning_db=db)
        module.use_graph()
        x = cp.asarray(np.random.default_rng(0).standard_normal((batch, 3, 224, 224),
                                                              dtype=np.float32))
        ours = time_calls(synced(lambda: module.run(x), cp), repeat=20).p50
        xt = torch.as_tensor(x, device="cuda")
        with torch.no_grad():
            eager = time_calls(lambda: (net(xt), torch.cuda.synchronize()), repeat=20).p50
        print(f"ResNet-18 batch {batch}: TensorForge {ours * 1e3:.2f} ms, PyTorch eager "
              f"{eager * 1e3:.2f} ms, ratio {eager / ours:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--db", default="cuda_tuning.db")
    parser.add_argument("--only", choices=("gemm", "resnet"))
    args = parser.parse_args(argv)
    try:
        from tensorforge.runtime.cuda_device import CupyDevice
        from tensorforge.runtime.cuda_module import device_target
        device = CupyDevice()
    except CudaUnavailableError as err:
        print(f"bench_cuda: nothing to measure here: {err}")
        return 0
    target = str(device_target(tensorforge.Target("cuda"), device))
    print(f"GPU: {device.name}, target '{target}', TF32 off")
    if args.only in (None, "gemm"):
        bench_gemm(device.cp, target, args.db, args.trials)
    if args.only in (None, "resnet"):
        bench_resnet(device.cp, target, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
