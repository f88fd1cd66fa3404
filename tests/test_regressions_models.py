"""Every model saved under tests/regressions/ (by the differential fuzzer, or by hand) compiled
and run on its saved inputs, against ONNX Runtime. A known bug stays listed in XFAIL with its
cause until it is fixed (strict: the fix makes the test fail until the entry is removed)."""

import pytest

from graph_strategies import REGRESSIONS, check_against_ort, load_case

# model file stem -> the cause of the known bug it reproduces
XFAIL: dict[str, str] = {
    "layernorm_float16_nearly_constant_row": (
        "unresolved (docs/robustness.md, seed 5): float16 LayerNorm of Exp(Tanh(x)) rows spread "
        "~0.03 around 1, up to 7.5% off ORT, which matches float64 on its own Exp values; "
        "likely a 1-ulp difference in the half Exp/Tanh amplified by the tiny variance"),
    "clip_float16_of_inf_between_ops": (
        "ORT clips a float16 -inf without a bound to -65504 or to -inf depending on the Clip's "
        "neighbours (alone or Clip->Abs: -65504; Neg->Clip->Abs, ReduceMax->Clip->Abs: -inf, "
        "as if computed in float32 and rounded); TensorForge gives the spec's lowest(), -65504"),
    "maxpool_stride2_of_n0_empty_spatial": (
        "ORT and ONNX shape inference count (0 - 1) / 2 + 1 = 1 window over an empty axis (C "
        "division truncates); the spec's floor, and TensorForge, give 0: the output is empty "
        "either way (N is 0), shape [0, 1, 0, 1] against ORT's [0, 1, 1, 1]"),
}

MODELS = sorted(REGRESSIONS.glob("*.onnx"))


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(reason=XFAIL[p.stem], strict=True)]
                 if p.stem in XFAIL else []) for p in MODELS])
def test_saved_model_matches_onnxruntime(path):
    check_against_ort(load_case(path))
