"""ONNX's backend node test cases, run against TensorForge's ONNX backend; shared by the pytest
runner (test_onnx_node.py) and the coverage report (bench/onnx_coverage.py)."""

from __future__ import annotations

import faulthandler
import functools
import json
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases
from onnx.backend.test.case.test_case import TestCase

from tensorforge import onnx_backend

# onnx's own defaults when a case states no tolerance (onnx.backend.test.runner).
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7


@functools.cache
def node_cases() -> tuple[TestCase, ...]:
    """Every node test case onnx ships, by name (generated in-process: ~5 s)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")   # the generators overflow casts on purpose
        return tuple(sorted(collect_testcases(None), key=lambda c: c.name))


def _tested_op(case: TestCase) -> str:
    """The model's op whose name starts the case's name (test_reduce_sum_x -> ReduceSum, the
    longest such), else the model's first op."""
    squashed = case.name[len("test_"):].replace("_", "").lower()
    ops = [n.op_type for n in case.model.graph.node]
    return max((op for op in ops if squashed.startswith(op.lower())), key=len, default=ops[0])


@functools.cache
def case_op_table() -> dict[str, str]:
    """Case name -> the operator it tests; an expanded case (the op's function body) takes
    its unexpanded sibling's."""
    cases = {c.name: c for c in node_cases()}
    return {name: _tested_op(cases.get(name.split("_expanded")[0], c)) for name, c in cases.items()}


def _array(x):
    """Data sets may hold TensorProtos (types NumPy lacks); onnx's runner converts them too."""
    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x


def unsupported(case: TestCase) -> str | None:
    """Why TensorForge does not claim the case (onnx_backend.unsupported_reason), its rules
    reading each data set's input values (a Dropout's training_mode and ratio are inputs)."""
    inits = {t.name for t in case.model.graph.initializer}
    names = [vi.name for vi in case.model.graph.input if vi.name not in inits]
    reasons = [onnx_backend.unsupported_reason(case.model, dict(zip(names, map(_array, inputs))))
               for inputs, _ in case.data_sets] or [onnx_backend.unsupported_reason(case.model)]
    return next((r for r in reasons if r), None)


def run_case(case: TestCase) -> None:
    """Prepare the case's model on TensorForge and check every data set the way onnx's runner
    does: output count, shapes and dtypes exact, values within the case's rtol/atol."""
    rep = onnx_backend.prepare(case.model, "CPU")
    rtol = DEFAULT_RTOL if case.rtol is None else case.rtol
    atol = DEFAULT_ATOL if case.atol is None else case.atol
    for k, (inputs, expected) in enumerate(case.data_sets):
        outputs = rep.run([_array(x) for x in inputs])
        expected = [_array(x) for x in expected]
        assert len(outputs) == len(expected), f"data set {k}: {len(outputs)} outputs, " \
                                              f"expected {len(expected)}"
        for i, (got, want) in enumerate(zip(outputs, expected)):
            what = f"data set {k}, output {i} ({rep.output_names[i]})"
            assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
            assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


# ----------------------------------------------------------------- isolated runs
# A compiled kernel can kill its process (SIGFPE, SIGSEGV) or hang; cases run in worker
# processes, so such a case is recorded as crashed and the run goes on in a fresh worker.

CASE_TIMEOUT_S = 60
_TIMEOUT_EXIT = 1  # faulthandler.dump_traceback_later(exit=True) exits with status 1
_MARK = "@@onnx-node "


@dataclass(frozen=True)
class Outcome:
    status: str          # "pass", "fail" or "crash"
    message: str = ""
    seconds: float = 0.0


def run_isolated(cases: Sequence[TestCase], workers: int = 2) -> dict[str, Outcome]:
    """Run `cases` in `workers` worker processes; every case's name gets an Outcome."""
    results: dict[str, Outcome] = {}
    threads = [threading.Thread(target=_drive, args=(list(cases[i::workers]), results))
               for i in range(min(workers, len(cases)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _drive(cases: list[TestCase], results: dict[str, Outcome]) -> None:
    """Run `cases` in one worker at a time (sent pickled on its stdin), restarting after each
    crash with the cases left."""
    while cases:
        proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdin.write(pickle.dumps(cases))
        proc.stdin.close()
        started = None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if not line.startswith(_MARK):
                continue
            kind, name, *rest = json.loads(line[len(_MARK):])
            if kind == "start":
                started = name
            else:
                results[name] = Outcome(*rest)
                started = None
        code = proc.wait()
        cases = [c for c in cases if c.name not in results]
        if started is None and cases:
            raise RuntimeError(f"onnx node worker exited ({code}) before running {cases[0].name}")
        if started is not None:
            why = f"died with exit code {code}"
            if code == _TIMEOUT_EXIT:
                why = f"timed out ({CASE_TIMEOUT_S} s)"
            elif code < 0:
                why = f"died with {signal.Signals(-code).name}"
            results[started] = Outcome("crash", f"worker {why} in this case")
            cases = [c for c in cases if c.name != started]


def _worker() -> None:
    for case in pickle.load(sys.stdin.buffer):
        print(_MARK + json.dumps(["start", case.name]), flush=True)
        start = time.perf_counter()
        faulthandler.dump_traceback_later(CASE_TIMEOUT_S, exit=True)
        try:
            with np.errstate(all="ignore"):
                run_case(case)
            outcome = ("pass", "")
        except Exception as e:  # noqa: BLE001 (any failure of the case is its result)
            outcome = ("fail", f"{type(e).__name__}: {e}")
        faulthandler.cancel_dump_traceback_later()
        print(_MARK + json.dumps(["done", case.name, *outcome, time.perf_counter() - start]),
              flush=True)


if __name__ == "__main__":
    _worker()
