"""ONNX's backend node test suite against TensorForge's ONNX backend (real pipeline).

One test per case onnx ships. A case whose every op TensorForge claims (converted ai.onnx op,
opset in range, tensors only) must pass at the case's rtol/atol; any other case skips with
the reason. Claimed cases run in worker processes (node_cases.run_isolated), two at a time,
so a kernel that crashes fails its own case, not the session. KNOWN_FAILURES is the to-do
list: each entry xfails with its cause, and fails the suite once it passes (remove it then).
"""

from __future__ import annotations

import os

import pytest

from tensorforge.onnx_backend import unsupported_reason

from node_cases import node_cases, run_isolated

# Causes, by the stage that owns the fix.
EMPTY = "lowering: zero-size tensors cannot be lowered (a kernel over 0 elements is a no-op)"
FP16 = "lowering: float16 kernels are not supported yet"
PROD = "lowering: ReduceProd has no te reducer (te supports sum, max, min)"
FLOOR_MOD = ("lowering: float Mod with fmod=0 (floor modulo, opset 28) misses the IEEE special "
             "cases (infinite divisor or dividend) that np.mod and the spec define")
ALIGN = ("ops/Resize (reference and lowering agree): align_corners with `scales` must use "
         "length_original * scale, not the rounded output length, as its denominator")
ANTIALIAS = "frontend: Resize antialias=1 is refused"
TRAINING = ("frontend: BatchNormalization and Dropout with training_mode=1 are refused "
            "(inference compiler)")
ARGMAX = "frontend: MaxPool's Indices output is refused"

KNOWN_FAILURES: dict[str, str] = {
    **dict.fromkeys([
        "test_reduce_l1_empty_set_expanded", "test_reduce_l2_empty_set",
        "test_reduce_l2_empty_set_expanded", "test_reduce_max_empty_set",
        "test_reduce_max_empty_set_bool", "test_reduce_min_empty_set",
        "test_reduce_prod_empty_set", "test_reduce_sum_empty_set",
        "test_reduce_sum_empty_set_non_reduced_axis_zero",
        "test_reduce_sum_square_empty_set_expanded", "test_slice_start_out_of_bounds",
        "test_split_zero_size_splits_opset13", "test_split_zero_size_splits_opset18",
        "test_tril_zero", "test_triu_zero", "test_reduce_log_sum_empty_set_expanded",
        "test_reduce_log_sum_exp_empty_set_expanded", "test_reshape_allowzero_reordered",
        "test_causal_conv_with_state_kernel_size_one_expanded",
        *[f"test_rotary_embedding{k}_expanded" for k in (
            "", "_3d_input", "_interleaved", "_no_position_ids",
            "_no_position_ids_interleaved")]], EMPTY),
    **dict.fromkeys([
        "test_isinf_float16", "test_isnan_float16", "test_max_float16", "test_min_float16",
        "test_celu_float16_expanded", "test_mod_float16_mixed_sign_fmod_0",
        "test_mod_float_edge_cases_fmod_0_float16", "test_mod_mixed_sign_float16",
        "test_flexattention_fp16_expanded_ver26",
        "test_causal_conv_with_state_fp16_expanded",
        "test_causal_conv_with_state_silu_fp16_expanded",
        "test_cast_DOUBLE_to_FLOAT16", "test_cast_FLOAT16_to_DOUBLE", "test_cast_FLOAT16_to_FLOAT",
        "test_cast_FLOAT_to_FLOAT16",
        *[f"test_castlike_{k}{e}" for k in ("DOUBLE_to_FLOAT16", "FLOAT16_to_DOUBLE",
                                            "FLOAT16_to_FLOAT", "FLOAT_to_FLOAT16")
          for e in ("", "_expanded")],
        *[f"test_attention_{k}_expanded" for k in (
            "24_qk_matmul_output_mode3_softmax_precision", "4d_causal_fp16", "4d_fp16",
            "4d_gqa_causal_nonpad_decode_fp16", "4d_gqa_with_past_and_present_fp16",
            "local_window_ext_cache_float16_mask")]], FP16),
    **dict.fromkeys([f"test_reduce_prod_{k}_{d}" for k in (
        "default_axes_keepdims", "do_not_keepdims", "keepdims", "negative_axes_keepdims")
        for d in ("example", "random")], PROD),
    **dict.fromkeys([f"test_mod_float_edge_cases_fmod_0_float{b}" for b in (32, 64)],
                    FLOOR_MOD),
    **dict.fromkeys(["test_resize_downsample_scales_cubic_align_corners",
                     "test_resize_downsample_scales_linear_align_corners"], ALIGN),
    **dict.fromkeys([f"test_resize_downsample_{s}_{m}_antialias" for s in ("scales", "sizes")
                     for m in ("cubic", "linear")], ANTIALIAS),
    **dict.fromkeys(["test_batchnorm_epsilon_training_mode",
                     "test_batchnorm_example_training_mode",
                     *[f"test_training_dropout{k}" for k in (
                         "", "_default", "_default_mask", "_mask", "_zero_ratio",
                         "_zero_ratio_mask")]], TRAINING),
    **dict.fromkeys([f"test_maxpool_with_argmax_2d_precomputed_{k}" for k in ("pads",
                                                                              "strides")],
                    ARGMAX),
}

CASES = {c.name: c for c in node_cases()}
UNSUPPORTED = {name: unsupported_reason(c.model) for name, c in CASES.items()}


@pytest.fixture(scope="session")
def outcomes(request) -> dict:
    """Outcomes of the claimed cases this session selected, run once in worker processes."""
    selected = [item.callspec.params["name"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_onnx_node_case"]
    claimed = [CASES[n] for n in selected if not UNSUPPORTED[n]]
    return run_isolated(claimed, workers=int(os.environ.get("TENSORFORGE_TEST_WORKERS", 2)))


def test_known_failures_are_claimed_cases():
    """The table names real cases that are claimed (else it would hide nothing)."""
    assert not [n for n in KNOWN_FAILURES if n not in CASES or UNSUPPORTED[n]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_node_case(name, outcomes):
    if UNSUPPORTED[name]:
        pytest.skip(f"unsupported: {UNSUPPORTED[name]}")
    outcome = outcomes[name]
    if name in KNOWN_FAILURES:
        assert outcome.status != "pass", f"{name} passes now: remove it from KNOWN_FAILURES"
        pytest.xfail(f"{KNOWN_FAILURES[name]} [{outcome.status}: {outcome.message[:200]}]")
    assert outcome.status == "pass", f"{outcome.status}: {outcome.message}"
