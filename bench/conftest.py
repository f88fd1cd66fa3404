"""pytest-benchmark suites: `python -m pytest bench/ --benchmark-only [--bench-threads 2]`.

Each case is one benchmark group holding TensorForge and its peers, so pytest-benchmark's
table shows them side by side. One thread count per run: NumPy's OpenBLAS fixes its thread
count when numpy is first imported, which is after pytest_configure (the test modules import
it), so the option sets OPENBLAS_NUM_THREADS here; the OpenBLAS overrides this machine sets
(slow kernels) are removed for the same reason.
"""

import os
import sys
import warnings

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # the suites import bench/cases.py


def pytest_addoption(parser):
    parser.addoption("--bench-threads", type=int, default=1,
                     help="Threads for TensorForge, ONNX Runtime and NumPy (default 1).")


def pytest_configure(config):
    threads = config.getoption("--bench-threads")
    if "numpy" in sys.modules:
        warnings.warn("numpy was imported before bench/conftest.py could set "
                      "OPENBLAS_NUM_THREADS: NumPy may run on another thread count")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(var, None)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)



@pytest.fixture(scope="session")
def threads(request) -> int:
    return request.config.getoption("--bench-threads")
