"""Every template's default config is a point of its own space, for every kernel of the
shared models on every kind of target (alternative templates included): `tune` measures the
default first, and the database can hold it."""

from pathlib import Path

from tensorforge.compiler.lower import (_template_of, alternatives, task_default, task_space,
                                        writes_nothing)
from tensorforge.compiler.templates.registry import TEMPLATES
from tensorforge.tuner import ConfigSpace
from tensorforge.tuner.extract import model_graph

MODELS = sorted(Path("../shared/models").glob("*.onnx"))
# 512- and 256-bit vectors, and the GPU templates (lowering needs no GPU)
TARGETS = ("llvm -mcpu=znver5", "llvm -mcpu=haswell", "cuda")


def test_default_config_is_in_the_space():
    graphs = {m.stem: model_graph(str(m)) for m in MODELS}
    seen = set()
    for target in TARGETS:
        for name, graph in graphs.items():
            for node in graph.nodes:
                if writes_nothing(node):
                    continue
                for template in (None, *alternatives(node, target)):
                    seen.add(_template_of(node, target, template)[-1].name)
                    space = ConfigSpace(task_space(node, target, template))
                    default = task_default(node, target, template)
                    assert default in space, f"{target}: {name} {node.op} {node.name}: " \
                        f"default {default} outside {space}"
    assert {t.name for t in TEMPLATES} <= seen       # every registered template was checked
