"""Differential fuzzing: random valid ONNX graphs compiled by TensorForge against ONNX Runtime.

CI replays a fixed seed over a bounded number of examples (about a minute on 2 cores);
TENSORFORGE_FUZZ_EXAMPLES raises the count and TENSORFORGE_FUZZ_SEED picks another seed for
long runs. A failure is shrunk by hypothesis and saved under tests/regressions/, where
test_regressions_models.py keeps running it.
"""

import os

from hypothesis import HealthCheck, given, seed, settings

from graph_strategies import check_and_keep, onnx_cases

EXAMPLES = int(os.environ.get("TENSORFORGE_FUZZ_EXAMPLES", "1100"))
SEED = int(os.environ.get("TENSORFORGE_FUZZ_SEED", "0"))


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(case=onnx_cases())
def test_compiled_graph_matches_onnxruntime(case):
    check_and_keep(case)
