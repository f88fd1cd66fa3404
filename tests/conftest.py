import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # tests import the shared oracle helpers

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"

# CI replays the same examples every run (derandomize) so it never flakes; the dev profile
# explores new examples on each run: HYPOTHESIS_PROFILE=dev python -m pytest
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
