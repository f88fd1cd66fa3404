"""Measure GPU candidates: run in worker processes like LocalMeasurer, timed with CUDA events.

    measure = CudaMeasurer(timeout=10, repeat=3, min_repeat_ms=10)
    measure.target                     # "cuda -arch=sm_90": the device's compute capability
    tune(model, measure.target, db, measure_fn=measure)

Each candidate runs in a fresh worker (from LocalMeasurer's fork server, which never touched
CUDA) that makes its own device: the kernel's arguments are uploaded once, it runs once and
its outputs are checked against the reference, then `repeat` rounds of `number` launches are
timed between two CUDA events on the device's stream, `number` raised until a round lasts
`min_repeat_ms`. A kernel that faults or hangs costs only its worker. The reference of a
model task (NodeTask) is its default config's output, computed here once per task on the
device; other tasks (TirTask) have a host reference. Records carry no thread count.

`device_factory` makes the device (runtime.cuda_device.Device) in each process: CupyDevice by
default; tests pass the emulated device, so everything but the GPU itself is tested.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..codegen.target import Target
from ..runtime.cuda_device import CupyDevice, Device
from ..runtime.cuda_module import CudaFunction, device_target
from .measure import PRELOAD as CPU_PRELOAD, LocalMeasurer, _check, _Settings
from .node_task import allocate_scratch, bind_params
from .task import Task

PRELOAD = [*CPU_PRELOAD, "tensorforge.tuner.cuda_measure"]


class DeviceRun:
    """One kernel (a task artifact) with its arguments resident on `device`: call it to
    queue a launch; `outputs()` downloads the written arguments."""

    def __init__(self, device: Device, artifact, args: list, outputs: tuple):
        # a NodeTask artifact is (func, constants), a TirTask one a bare func
        func, constants = artifact if isinstance(artifact, tuple) else (artifact, ())
        params, slots = bind_params(allocate_scratch(constants), args)
        self.device, self.function = device, CudaFunction.of(func, func.name)
        self.kernel = device.compile(self.function.source, self.function.name)
        self.arrays = [np.ascontiguousarray(a) for a in params]
        self.pointers = [device.allocate(a.nbytes) for a in self.arrays]
        for p, a in zip(self.pointers, self.arrays):
            device.upload(p, a)
        self._args = device.kernel_args(self.pointers)
        self._written = [slots[k] for k in outputs]

    def __call__(self) -> None:
        self.device.launch(self.kernel, self.function.grid, self.function.block, self._args)

    def outputs(self) -> list[np.ndarray]:
        outs = [np.empty_like(self.arrays[k]) for k in self._written]
        for k, out in zip(self._written, outs):
            self.device.download(self.pointers[k], out)
        self.device.synchronize()
        return outs


def time_rounds(device: Device, run, s: _Settings) -> list[float]:
    """Seconds per launch of each of `s.repeat` rounds of `number` launches (device time);
    `number` grows until a round lasts `s.min_repeat_ms`."""
    number = s.number
    if s.min_repeat_ms > 0:
        once = max(device.time(run), 1e-9)
        number = max(number, math.ceil(s.min_repeat_ms / 1000 / once))

    def rounds():
        for _ in range(number):
            run()
    return [device.time(rounds) / number for _ in range(s.repeat)]


def _cuda_worker(device_factory, conn, task: Task, artifact, args, expected,
                 settings: _Settings, threads) -> None:
    """Runs in the child: send ("ok", costs) or ("error", message)."""
    try:
        device = device_factory()
        run = DeviceRun(device, artifact, args, task.outputs)
        run()
        error = _check(run.outputs(), expected, settings)
        conn.send(("error", error) if error else ("ok", time_rounds(device, run, settings)))
    except Exception as e:  # any failure of the candidate is its record, not the tuner's
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class CudaMeasurer(LocalMeasurer):
    """LocalMeasurer's workers, timeouts and crash records, with the CUDA worker above."""

    def __init__(self, timeout: float = 10.0, repeat: int = 3, number: int = 1,
                 min_repeat_ms: float = 0.0, rtol: float = 1e-4, atol: float = 1e-4,
                 device_factory=CupyDevice, threads: int | None = None, target="cuda"):
        super().__init__(timeout, repeat, number, min_repeat_ms, rtol, atol, "forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.threads = None  # a GPU kernel's time does not depend on the host's threads
        self.worker = functools.partial(_cuda_worker, device_factory)
        self.device = device_factory()   # the reference runs here
        target = target if isinstance(target, Target) else Target.parse(target)
        self.target = str(device_target(target, self.device))   # as compile resolves it

    def _expected(self, task: Task, args) -> list:
        if getattr(task, "default", None) is None:   # a hand-written task: its own reference
            return super()._expected(task, args)
        # a model kernel: the kernel compile builds untuned, on this device
        run = DeviceRun(self.device, task.build(None), args, task.outputs)
        run()
        return run.outputs()
