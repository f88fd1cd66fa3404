"""opt_level=0 (no graph passes: every op its own kernel) on every shared model: a stress
test of each template and compute alone, e.g. a conv whose padding is its own loop."""

import numpy as np
import pytest

import tensorforge
from conftest import MODELS
from oracle import MODEL_TOLERANCE
from test_compile_models import NAMES, reference

pytestmark = [pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}"),
              pytest.mark.slow]


@pytest.mark.parametrize("name", NAMES)
def test_unfused_model_matches_reference(name):
    mod = tensorforge.compile(MODELS / f"{name}.onnx", target="llvm", opt_level=0)
    feeds, want = reference(name)
    for g, w in zip(mod.run(**feeds), want, strict=True):
        np.testing.assert_allclose(g, w, *MODEL_TOLERANCE, err_msg=name)
