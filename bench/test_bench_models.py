"""Models: the shared models (/work/shared/models) and built-in workloads, TensorForge
against ONNX Runtime on the same inputs and thread count, one pytest-benchmark group per
model. TensorForge's outputs are checked against the reference before timing.

    python -m pytest bench/test_bench_models.py --benchmark-only --bench-threads 2
"""

import pytest

from cases import MODELS, check, contender_names, contenders

PARAMS = [pytest.param(case, who, id=f"{case.name}-{who}")
          for case in MODELS for who in contender_names(case)]


@pytest.mark.parametrize("case, who", PARAMS)
def test_model(benchmark, threads, case, who):
    if who == "tensorforge":
        check(case, threads)
    benchmark.group = f"{case.name}, {threads} thread(s)"
    benchmark.pedantic(contenders(case, threads)[who], warmup_rounds=2, rounds=10)
