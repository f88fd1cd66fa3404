"""Operators: TensorForge against ONNX Runtime (and NumPy where it has the op), one
pytest-benchmark group per operator so the ratio reads off the table.

    python -m pytest bench/test_bench_ops.py --benchmark-only --bench-threads 2
"""

import pytest

from cases import OPERATORS, check, contender_names, contenders

PARAMS = [pytest.param(case, who, id=f"{case.name}-{who}")
          for case in OPERATORS for who in contender_names(case)]


@pytest.mark.parametrize("case, who", PARAMS)
def test_operator(benchmark, threads, case, who):
    if who == "tensorforge":
        check(case, threads)
    benchmark.group = f"{case.name}, {threads} thread(s)"
    benchmark(contenders(case, threads)[who])
