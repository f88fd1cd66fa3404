"""Every model saved under tests/regressions/ (by the differential fuzzer, or by hand) compiled
and run on its saved inputs, against ONNX Runtime. A known bug stays listed in XFAIL with its
cause until it is fixed (strict: the fix makes the test fail until the entry is removed)."""

import pytest

from graph_strategies import REGRESSIONS, check_against_ort, load_case

# model file stem -> the cause of the known bug it reproduces
XFAIL: dict[str, str] = {}

MODELS = sorted(REGRESSIONS.glob("*.onnx"))


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(reason=XFAIL[p.stem], strict=True)]
                 if p.stem in XFAIL else []) for p in MODELS])
def test_saved_model_matches_onnxruntime(path):
    check_against_ort(load_case(path))
