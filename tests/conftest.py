import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# Test helper modules (oracle.py, tir_kernels.py, *_testing.py, ...) import by plain name from
# any test file: put tests/ and each of its folders on the path once, here.
HERE = Path(__file__).resolve().parent
for folder in [HERE, *sorted(p for p in HERE.iterdir() if p.is_dir() and p.name[0] not in "._")]:
    sys.path.insert(0, str(folder))

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"

# CI replays the same examples every run (derandomize) so it never flakes; the dev profile
# explores new examples on each run: HYPOTHESIS_PROFILE=dev python -m pytest
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
