"""optimize(): the pass list, its verification, logging, IR dumps and per-pass report."""

import dataclasses
import logging

import pytest
from hypothesis import given

from tensorforge.compiler import GraphBuilder, GraphError
from tensorforge.compiler import passes
from tensorforge.compiler.passes import optimize

from passes_testing import assert_equivalent, square_graphs

ORDER = ["remove_identities", "fold_constants", "simplify_reshapes", "fold_batchnorm",
         "fold_constants", "eliminate_common_subexpressions", "eliminate_dead_code",
         "fuse_operators"]


def small_graph():
    b = GraphBuilder("small")
    x = b.input("x", (2, 3), "float32")
    y = b.emit1("Relu", [b.emit1("Identity", [x])])
    b.emit1("Exp", [x])  # dead
    return b.build([b.emit1("Neg", [y], out_name="y")]).verify()


def test_report_lists_every_pass_with_node_counts():
    report = []
    out = optimize(small_graph(), report=report)
    assert [name for name, _, _ in report] == ORDER
    assert report[0] == ("remove_identities", 4, 3)
    assert ("eliminate_dead_code", 3, 2) in report
    assert report[-1] == ("fuse_operators", 2, 1) and len(out.nodes) == 1
    assert all(after == before for (_, _, before), (_, after, _) in zip(report, report[1:]))


def test_fuse_false_stops_before_fusion():
    report = []
    out = optimize(small_graph(), fuse=False, report=report)
    assert [name for name, _, _ in report] == ORDER[:-1]
    assert [n.op for n in out.nodes] == ["Relu", "Neg"]


def test_one_log_line_per_pass(caplog):
    with caplog.at_level(logging.INFO, logger="tensorforge.passes"):
        optimize(small_graph())
    lines = [r.getMessage() for r in caplog.records if r.name == "tensorforge.passes"]
    assert len(lines) == len(ORDER)
    assert lines[0].split() == ["remove_identities", "4", "->", "3", "nodes"]


def test_dump_prints_the_ir_after_each_pass(monkeypatch, capsys):
    monkeypatch.setenv("TENSORFORGE_DUMP", "1")
    optimize(small_graph())
    err = capsys.readouterr().err
    assert err.count("// after ") == len(ORDER)
    assert "// after eliminate_dead_code\ngraph small(%x: float32[2, 3]) {" in err
    monkeypatch.setenv("TENSORFORGE_DUMP", "0")
    optimize(small_graph())
    assert capsys.readouterr().err == ""


def test_a_pass_that_breaks_the_graph_is_caught(monkeypatch):
    def reverse(g):
        return dataclasses.replace(g, nodes=tuple(reversed(g.nodes)))

    monkeypatch.setattr(passes, "PIPELINE", [("reverse", reverse)])
    with pytest.raises(GraphError, match="before it is defined"):
        optimize(small_graph())


@given(square_graphs(max_nodes=14))
def test_random_graphs_compute_the_same_after_optimize(g):
    assert_equivalent(g, optimize(g, fuse=False))
    assert_equivalent(g, optimize(g))
