"""The static memory planner: lifetimes, offsets, in-place reuse, bounds, and real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorforge.compiler import GraphBuilder, from_onnx, optimize
from tensorforge.runtime import MemoryPlan, MemoryPlanError, Step, plan_graph, plan_memory

MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "models"
ALIGN = 64


# -- helpers --------------------------------------------------------------------------------

def simulate(plan: MemoryPlan) -> None:
    """Execute the plan on a real byte arena: every step checks that what it reads still holds
    the bytes its producer wrote, then stamps its outputs. An in-place output is stamped after
    its input was read, as an elementwise kernel would. Independent of `plan.verify()`."""
    arena = np.zeros(max(plan.arena_bytes, 1), np.uint8)
    stamp = {t: (i % 251) + 1 for i, t in enumerate(plan.offsets)}

    def region(t):
        o = plan.offsets[t]
        return arena[o:o + plan.sizes[t]]

    for step in plan.steps:
        for t in step.reads:
            if t in plan.offsets:
                assert (region(t) == stamp[t]).all(), f"{t!r} was clobbered before {step.name}"
        for t in step.writes:
            if t in plan.offsets:
                region(t)[:] = stamp[t]


def chain(sizes: list[int], inplace: bool = False) -> tuple[list[Step], dict]:
    """in -> t0 -> t1 -> ... -> out, one step per tensor."""
    names = ["in"] + [f"t{i}" for i in range(len(sizes))] + ["out"]
    steps = [Step(f"s{i}", (names[i],), (names[i + 1],),
                  ((names[i + 1], names[i]),) if inplace else ())
             for i in range(len(names) - 1)]
    table = {"in": 128, "out": 128, **{f"t{i}": s for i, s in enumerate(sizes)}}
    return steps, table


# -- hand-made cases ------------------------------------------------------------------------

def test_chain_reuses_two_buffers():
    steps, sizes = chain([1000, 1000, 1000, 1000])
    plan = plan_memory(steps, sizes, external={"in", "out"}).verify()
    assert plan.naive_bytes == 4000
    assert plan.lower_bound_bytes == 2000
    assert plan.arena_bytes == 2 * 1024            # two live at a time, each rounded to 64
    assert plan.lifetimes["t1"] == (1, 2)
    assert all(o % ALIGN == 0 for o in plan.offsets.values())
    simulate(plan)


def test_inplace_chain_uses_one_buffer():
    steps, sizes = chain([1024, 1024, 1024], inplace=True)
    plan = plan_memory(steps, sizes, external={"in", "out"}).verify()
    assert plan.inplace == {"t1": "t0", "t2": "t1"}
    assert len(set(plan.offsets.values())) == 1
    assert plan.arena_bytes == plan.lower_bound_bytes == 1024
    simulate(plan)


def test_inplace_disabled_or_ineligible():
    steps, sizes = chain([1024, 1024, 1024], inplace=True)
    plan = plan_memory(steps, sizes, external={"in", "out"}, inplace=False).verify()
    assert plan.inplace == {} and plan.arena_bytes == 2048
    # t0 is still read after step s1, so t1 may not overwrite it
    steps = [Step("a", ("x",), ("t0",)), Step("b", ("t0",), ("t1",), (("t1", "t0"),)),
             Step("c", ("t0", "t1"), ("y",))]
    plan = plan_memory(steps, {"x": 64, "t0": 256, "t1": 256, "y": 64}, {"x", "y"}).verify()
    assert plan.inplace == {}
    assert plan.offsets["t0"] != plan.offsets["t1"]
    # a larger output may not take a smaller input's bytes
    steps = [Step("a", ("x",), ("t0",)), Step("b", ("t0",), ("t1",), (("t1", "t0"),)),
             Step("c", ("t1",), ("y",))]
    plan = plan_memory(steps, {"x": 64, "t0": 128, "t1": 256, "y": 64}, {"x", "y"}).verify()
    assert plan.inplace == {}


def test_one_input_serves_one_inplace_output():
    steps = [Step("a", ("x",), ("t",)),
             Step("b", ("t",), ("u", "v"), (("u", "t"), ("v", "t"))),
             Step("c", ("u", "v"), ("y",))]
    plan = plan_memory(steps, {"x": 8, "t": 512, "u": 512, "v": 512, "y": 8}, {"x", "y"})
    plan.verify()
    assert list(plan.inplace.values()) == ["t"]
    simulate(plan)


def test_diamond_keeps_branch_alive():
    # x -> a -> b -> d(a, b): a lives across b
    steps = [Step("s0", ("x",), ("a",)), Step("s1", ("a",), ("b",)),
             Step("s2", ("a", "b"), ("c",)), Step("s3", ("c",), ("y",))]
    sizes = {"x": 64, "a": 640, "b": 640, "c": 640, "y": 64}
    plan = plan_memory(steps, sizes, {"x", "y"}).verify()
    assert plan.lower_bound_bytes == 3 * 640
    assert plan.arena_bytes == 3 * 640
    simulate(plan)


def test_one_step():
    plan = plan_memory([Step("only", ("x",), ("y", "scratch"))],
                       {"x": 10, "y": 10, "scratch": 100}, {"x", "y"}).verify()
    assert plan.offsets == {"scratch": 0}
    assert plan.lifetimes["scratch"] == (0, 0)
    assert plan.arena_bytes == 128 and plan.naive_bytes == plan.lower_bound_bytes == 100


def test_zero_sized_tensors():
    steps = [Step("a", ("x",), ("e", "t")), Step("b", ("e", "t"), ("f",)),
             Step("c", ("f", "t"), ("y",))]
    plan = plan_memory(steps, {"x": 4, "e": 0, "t": 100, "f": 0, "y": 4}, {"x", "y"}).verify()
    assert plan.sizes["e"] == 0 and "e" in plan.offsets
    assert plan.arena_bytes == 128 and plan.lower_bound_bytes == 100
    simulate(plan)


def test_everything_external():
    steps = [Step("a", ("x", "w"), ("y",)), Step("b", ("y",), ("z",))]
    plan = plan_memory(steps, {"x": 4, "w": 4, "y": 4, "z": 4}, {"x", "w", "y", "z"}).verify()
    assert plan.offsets == {} and plan.arena_bytes == plan.naive_bytes == 0
    assert plan.lower_bound_bytes == 0
    assert "arena 0 B" in plan.summary()


def test_empty_step_list():
    plan = plan_memory([], {}, set()).verify()
    assert plan.arena_bytes == 0


def test_alignment_is_configurable():
    steps, sizes = chain([10, 10, 10])
    plan = plan_memory(steps, sizes, {"in", "out"}, alignment=16).verify()
    assert plan.arena_bytes == 32 and all(o % 16 == 0 for o in plan.offsets.values())
    with pytest.raises(MemoryPlanError, match="power of two"):
        plan_memory(steps, sizes, {"in", "out"}, alignment=48)


def test_malformed_inputs_are_clear_errors():
    with pytest.raises(MemoryPlanError, match="read before it is written"):
        plan_memory([Step("a", ("x",), ("y",))], {"x": 4, "y": 4}, {"y"})
    with pytest.raises(MemoryPlanError, match="written twice"):
        plan_memory([Step("a", ("x",), ("y",)), Step("b", ("x",), ("y",))],
                    {"x": 4, "y": 4}, {"x"})
    with pytest.raises(MemoryPlanError, match="no size"):
        plan_memory([Step("a", ("x",), ("y",))], {"x": 4}, {"x"})
    with pytest.raises(MemoryPlanError, match="negative"):
        plan_memory([Step("a", ("x",), ("y",))], {"x": 4, "y": -1}, {"x"})
    with pytest.raises(MemoryPlanError, match="in place"):
        plan_memory([Step("a", ("x",), ("y",), (("y", "q"),))], {"x": 4, "y": 4}, {"x"})


def test_verify_catches_overlap():
    steps, sizes = chain([256, 256])
    plan = plan_memory(steps, sizes, {"in", "out"}).verify()
    plan.offsets["t1"] = plan.offsets["t0"]          # both live at step s1
    with pytest.raises(MemoryPlanError, match="overlap"):
        plan.verify()
    plan.offsets["t1"] = 65
    with pytest.raises(MemoryPlanError, match="aligned"):
        plan.verify()


def test_summary_and_str_are_readable():
    steps, sizes = chain([1000, 2000, 1000])
    plan = plan_memory(steps, sizes, {"in", "out"})
    text = str(plan)
    assert "lower bound" in plan.summary() and "naive" in plan.summary()
    for name in ("t0", "t1", "t2"):
        assert name in text
    assert plan.offsets_by_name() == {str(t): o for t, o in plan.offsets.items()}


# -- random step lists ----------------------------------------------------------------------

SIZES = st.sampled_from([0, 1, 7, 63, 64, 65, 100, 128, 500, 1000, 4096, 10000])


@st.composite
def programs(draw):
    """A random step list: tensors with random sizes, producer steps and last uses; some
    external; random in-place capabilities (the planner decides which are legal)."""
    n_steps = draw(st.integers(1, 12))
    n_tensors = draw(st.integers(1, 30))
    made = [[] for _ in range(n_steps)]
    used = [[] for _ in range(n_steps)]
    sizes, external, inputs = {}, set(), []
    for t in range(n_tensors):
        name = f"t{t}"
        sizes[name] = draw(SIZES)
        first = draw(st.integers(-1, n_steps - 1))          # -1: a graph input / weight
        last = draw(st.integers(max(first, 0), n_steps - 1))
        if first < 0:
            external.add(name)
            inputs.append(name)
        else:
            made[first].append(name)
            if draw(st.booleans()) and draw(st.booleans()):
                external.add(name)                          # a graph output
        reads = {s for s in range(first + 1, last + 1) if draw(st.booleans())}
        if last > first:
            reads.add(last)
        for s in reads:
            used[s].append(name)
    steps = []
    for s in range(n_steps):
        pairs = [(o, i) for o in made[s] for i in used[s] if draw(st.booleans())]
        steps.append(Step(f"s{s}", tuple(used[s]), tuple(made[s]), tuple(pairs)))
    return steps, sizes, external


@given(programs(), st.booleans())
def test_random_programs_give_valid_plans(program, inplace):
    steps, sizes, external = program
    plan = plan_memory(steps, sizes, external, inplace=inplace).verify()
    assert all(o % ALIGN == 0 for o in plan.offsets.values())
    assert plan.lower_bound_bytes <= plan.arena_bytes
    assert plan.lower_bound_bytes <= plan.naive_bytes
    assert set(plan.offsets) == {t for s in steps for t in s.writes} - external
    simulate(plan)


@given(programs())
def test_inplace_never_hurts_lower_bound(program):
    steps, sizes, external = program
    with_ip = plan_memory(steps, sizes, external, inplace=True)
    without = plan_memory(steps, sizes, external, inplace=False)
    assert with_ip.lower_bound_bytes <= without.lower_bound_bytes
    assert with_ip.arena_bytes <= without.arena_bytes


# -- graphs ---------------------------------------------------------------------------------

def test_plan_graph_small():
    b = GraphBuilder("g")
    x = b.input("x", (4, 64), "float32")
    w = b.const(np.ones((64, 64), np.float32), "w")
    h = b.emit1("MatMul", [x, w], out_name="h")
    r = b.emit1("Relu", [h], out_name="r")             # elementwise, h dies here: in place
    e = b.emit1("Exp", [r], out_name="e")              # r dies here too
    y = b.emit1("Add", [e, x], out_name="y")           # y is a graph output: no arena
    g = b.build([y]).verify()
    plan = plan_graph(g).verify()
    assert set(plan.offsets) == {h, r, e}
    assert plan.inplace == {r: h, e: r}
    assert plan.arena_bytes == 4 * 64 * 4 == plan.lower_bound_bytes
    assert "h" in str(plan)
    assert plan.offsets_by_name().keys() == {"h", "r", "e"}


def test_plan_graph_no_inplace_across_dtype_or_still_live():
    b = GraphBuilder("g")
    x = b.input("x", (8, 8), "float32")
    a = b.emit1("Relu", [x], out_name="a")                   # x is external
    d = b.emit1("Neg", [a], out_name="d")                     # a is still read later
    c = b.emit1("Cast", [a], {"to": "int32"}, out_name="c")  # a dies, same bytes, other dtype
    f = b.emit1("Cast", [c], {"to": "float32"}, out_name="f")
    y = b.emit1("Add", [d, f], out_name="y")
    g = b.build([y]).verify()
    plan = plan_graph(g).verify()
    assert plan.inplace == {}
    assert set(plan.offsets) == {a, d, c, f}
    simulate(plan)


@pytest.mark.skipif(not (MODELS / "resnet18.onnx").exists(), reason="shared models absent")
def test_resnet18_plan_is_near_lower_bound():
    graph = optimize(from_onnx(str(MODELS / "resnet18.onnx")))
    plan = plan_graph(graph).verify()
    simulate(plan)
    assert len(plan.steps) == len(graph.nodes)
    assert plan.arena_bytes <= 1.10 * plan.lower_bound_bytes
    assert plan.arena_bytes <= 0.5 * plan.naive_bytes
    for v in graph.inputs + graph.outputs:
        assert v not in plan.offsets


@pytest.mark.skipif(not MODELS.exists(), reason="shared models absent")
@pytest.mark.parametrize("model", ["mobilenetv2", "bert_mini", "mlp", "convbnrelu"])
def test_other_models_plan_validly(model):
    graph = optimize(from_onnx(str(MODELS / f"{model}.onnx")))
    plan = plan_graph(graph).verify()
    simulate(plan)
    assert plan.lower_bound_bytes <= plan.arena_bytes <= plan.naive_bytes + 64 * len(plan.offsets)


@pytest.mark.skipif(not (MODELS / "resnet18.onnx").exists(), reason="shared models absent")
def test_unfused_resnet18_runs_elementwise_ops_in_place():
    graph = optimize(from_onnx(str(MODELS / "resnet18.onnx")), fuse=False)
    plan = plan_graph(graph).verify()
    simulate(plan)
    assert len(plan.inplace) > 0
    assert plan.arena_bytes < plan_graph(graph, inplace=False).arena_bytes
    assert plan.arena_bytes <= 1.10 * plan.lower_bound_bytes
