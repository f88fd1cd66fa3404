"""Every model saved under tests/regressions/ (by the differential fuzzer, or by hand) compiled
and run on its saved inputs, against ONNX Runtime. A known bug stays listed in XFAIL with its
cause until it is fixed (strict: the fix makes the test fail until the entry is removed)."""

import pytest

from graph_strategies import REGRESSIONS, check_against_ort, load_case

# codegen/llvm.py lowers float min/max to select(fcmp_ordered(op, x, y), x, y): the result is y
# whenever either side is NaN, so max(NaN, 0) = 0 and a max/min reduction restarts after a NaN.
NAN_MINMAX = "float min/max is select(fcmp_ordered(x, y), x, y) (codegen/llvm.py _fcmp_select)"

# model file stem -> the cause of the known bug it reproduces
XFAIL: dict[str, str] = {
    "nan_relu": f"Relu(NaN) = 0, ORT gives NaN: {NAN_MINMAX}",
    "nan_clip": f"Clip(NaN, -1, 1) = -1, ORT gives NaN: {NAN_MINMAX}",
    "nan_reducemax": f"ReduceMax([3, NaN, -inf, 0.5]) = 0.5, ORT gives 3: {NAN_MINMAX}",
    "nan_globalmaxpool": f"GlobalMaxPool([3, NaN, -inf, 0.5]) = 0.5, ORT gives 3: {NAN_MINMAX}",
    "nan_argmax": f"ArgMax([3, NaN, -inf, 0.5]) = 3, ORT gives 0: {NAN_MINMAX}",
    "layernorm_offset_mean": "LayerNormalization of 100 + 0.01 * k gives +-11 instead of "
                             "+-1.5: topi/norm.py takes var = E[x^2] - E[x]^2 in float32 (ORT "
                             "accumulates in double); InstanceNormalization shares _stats",
}

MODELS = sorted(REGRESSIONS.glob("*.onnx"))


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(reason=XFAIL[p.stem], strict=True)]
                 if p.stem in XFAIL else []) for p in MODELS])
def test_saved_model_matches_onnxruntime(path):
    check_against_ort(load_case(path))
