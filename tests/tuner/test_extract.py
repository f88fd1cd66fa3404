"""Task extraction and NodeTask: one task per distinct workload, weighted and ordered; each
config's kernel (its own packed constants in the artifact) agrees with NumPy."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorforge import workloads
from tensorforge.codegen import Target
from tensorforge.compiler import GraphBuilder
from tensorforge.compiler.lower import alternatives, lower_graph
from tensorforge.tuner import NodeTask, extract_tasks
from tensorforge.tuner.extract import model_graph

HOST = Target.parse("llvm")


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def mlp_graph(width=16, layers=2, rows=8):
    """`layers` identical MatMul+Relu blocks (different weights, same structure)."""
    b = GraphBuilder("mlp")
    x = b.input("x", (rows, width), "float32")
    for k in range(layers):
        x = b.emit1("Relu", [b.emit1("MatMul", [x, b.const(rand((width, width), k), f"w{k}")])])
    return b.build([x])


def conv_graph(c=8, h=9, oc=20):
    b = GraphBuilder("conv")
    x = b.input("x", (1, c, h, h), "float32")
    y = b.emit1("Conv", [x, b.const(rand((oc, c, 3, 3)), "w")],
                {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 1})
    return b.build([b.emit1("Relu", [y])])


def run(task, config, args):
    out = [a.copy() for a in args]
    task.load(task.build(config))(*out)
    return [out[k] for k in task.outputs]


def test_identical_blocks_are_one_weighted_task():
    (task,) = extract_tasks(mlp_graph(layers=3), HOST)
    assert task.weight == 3 and task.template == "dense"
    assert task.flops == 2 * 8 * 16 * 16 and len(task.space) >= 100


def test_keys_are_the_ones_compile_looks_up():
    graph = mlp_graph()
    keys = {k.workload for k in lower_graph(model_graph(graph), HOST)}
    assert {t.workload for t in extract_tasks(graph, HOST)} == keys


def test_small_spaces_are_skipped_unless_asked_for():
    b = GraphBuilder("pool")
    x = b.input("x", (1, 4, 8, 8), "float32")
    graph = b.build([b.emit1("ReduceMax", [x], {"axes": (2, 3), "keepdims": 1})])
    assert extract_tasks(graph, HOST) == []
    (task,) = extract_tasks(graph, HOST, min_space=1)
    assert task.template.startswith("generic") and len(task.space) == 4


def test_resnet18_tasks_ordered_by_weight_times_flops():
    graph = model_graph(workloads.get("resnet18")[0])
    tasks = extract_tasks(graph, HOST)
    assert len({(t.workload, t.template) for t in tasks}) == len(tasks)
    tuned = [k for k in lower_graph(graph, HOST) if k.template in {t.template for t in tasks}]
    assert sum(t.weight for t in tasks if t.template != "conv2d_winograd") == len(tuned)
    # the 3x3 stride-1 convs get a Winograd task each, weighted like their direct one
    direct = {t.workload: t.weight for t in tasks if t.template == "conv2d_nchwc"}
    wino = {t.workload: t.weight for t in tasks if t.template == "conv2d_winograd"}
    assert wino and all(direct[w] == n for w, n in wino.items())
    assert set(wino) == {t.workload for t in tasks
                         if t.template == "conv2d_nchwc" and alternatives(t.node, HOST)}
    work = [t.weight * t.flops for t in tasks]
    assert work == sorted(work, reverse=True)
    assert {t.template for t in tasks} == {"conv2d_nchwc", "conv2d_winograd", "dense"}
    assert max(t.flops for t in tasks) == 2 * 64 * 112 * 112 * 3 * 7 * 7


def test_task_pickles_without_its_caches():
    (task,) = extract_tasks(conv_graph(), HOST)
    task.features(task.space[0])
    copy = pickle.loads(pickle.dumps(task))
    assert copy._features == {} and copy.workload == task.workload
    assert copy.outputs == task.outputs == (1,)


def test_conv_configs_repack_weights_and_agree():
    """oc_bn changes the packed weights' shape: each artifact carries its own."""
    (task,) = extract_tasks(conv_graph(), HOST)
    args = task.arguments()
    want = task.reference(args)
    shapes = set()
    for oc_bn in task.space.knobs["oc_bn"]:
        config = {**task.default, "oc_bn": oc_bn, "ow_bn": 4}
        func, constants = task.build(config)
        shapes.add(next(c.shape for c in constants if c is not None and c.ndim == 5))
        np.testing.assert_allclose(run(task, config, args)[0], want[0], rtol=1e-4, atol=1e-4)
    assert len(shapes) == len(task.space.knobs["oc_bn"])


@settings(max_examples=8)
@given(m=st.integers(1, 19), k=st.integers(1, 40), n=st.integers(1, 37),
       pick=st.integers(0, 10 ** 6))
def test_matmul_task_any_config_matches_numpy(m, k, n, pick):
    b = GraphBuilder("mm")
    x = b.input("x", (m, k), "float32")
    w = rand((k, n), 1)
    graph = b.build([b.emit1("MatMul", [x, b.const(w, "w")])])
    task = NodeTask(model_graph(graph).nodes[0], "llvm")
    args = task.arguments()
    want = args[0] @ w
    np.testing.assert_allclose(task.reference(args)[0], want, rtol=1e-4, atol=1e-4)
    config = task.space[pick % len(task.space)]
    np.testing.assert_allclose(run(task, config, args)[0], want, rtol=1e-4, atol=1e-4)
    assert task.flops == 2 * m * n * k


def test_unknown_target_is_a_clear_error():
    with pytest.raises(Exception, match="(?i)cpu|target"):
        extract_tasks(mlp_graph(), "llvm -mcpu=no_such_cpu")
