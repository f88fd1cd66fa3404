"""Task extraction sees the graph compile lowers at the same opt_level (one function,
compiler.pipeline.model_graph): the tasks' workloads are exactly the compiled kernels'."""

import pytest

import tensorforge
from conftest import MODELS
from tensorforge.tuner import extract_tasks

pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared models not at {MODELS}")


def workloads_by_level(name: str) -> dict[int, tuple[set, set]]:
    """opt_level -> (extracted task workloads, compiled kernel workloads)."""
    model = MODELS / f"{name}.onnx"
    return {level: ({t.workload for t in extract_tasks(model, "llvm", min_space=1,
                                                        opt_level=level)},
                    {c.workload for c in tensorforge.compile(model, "llvm",
                                                             opt_level=level).kernels})
            for level in (0, 1, 3)}


@pytest.mark.parametrize("name", ["convbnrelu", "mlp"])
def test_tasks_are_the_kernels_compile_builds_at_each_opt_level(name):
    found = workloads_by_level(name)
    for level, (tasks, kernels) in found.items():
        assert tasks == kernels, f"opt_level {level}"
    assert found[0][1] != found[3][1]   # the levels compile different kernels
