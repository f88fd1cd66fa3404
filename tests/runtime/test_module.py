"""The Module a user holds: input checking, save/load, refusals, the tuning-database hook."""

import json
import zipfile

import numpy as np
import pytest

import tensorforge
from tensorforge.api import load_best_configs
from tensorforge.codegen import Target, TargetError
from tensorforge.compiler import InputError
from tensorforge.runtime.module import Module
from tensorforge.runtime.serialize import ModuleFileError

from lowered_kernels import chain

HOST = Target.parse("llvm")
X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def mod():
    inputs, outputs, kernels, ref = chain(5, 24, 3)
    return Module.link(inputs, outputs, kernels, HOST)


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_run_by_position_name_and_call(mod):
    want = mod.run(X)
    assert_same(mod.run(x=X), want)
    assert_same(mod(X), want)
    assert [s.name for s in mod.outputs] == ["s", "r", "z"]
    assert "x: float32[5, 3]" in repr(mod)


def test_non_contiguous_input_is_copied(mod):
    wide = np.zeros((5, 6), np.float32)
    wide[:, ::2] = X
    assert_same(mod.run(wide[:, ::2]), mod.run(X))
    assert_same(mod.run(np.asfortranarray(X)), mod.run(X))


@pytest.mark.parametrize("args,named,match", [
    ((), {}, r"missing input\(s\) 'x'"),
    ((X, X), {}, "takes 1 input"),
    ((), {"y": X}, "unknown input 'y'"),
    ((X,), {"x": X}, "both by position and by name"),
    ((X[:4],), {}, r"expects float32\[5, 3\], got float32\[4, 3\]"),
    ((X.reshape(15),), {}, r"got float32\[15\]"),
    ((X.astype(np.float64),), {}, r"got float64\[5, 3\]"),
    ((X.astype(">f4"),), {}, "expects float32"),
    ((X.tolist(),), {}, "must be a numpy array"),
    ((None,), {}, "must be a numpy array"),
])
def test_bad_inputs_are_input_errors(mod, args, named, match):
    with pytest.raises(InputError, match=match):
        mod.run(*args, **named)


def test_memory_plan_numbers(mod):
    plan = mod.memory_plan
    assert plan.arena_bytes >= plan.lower_bound_bytes == plan.naive_bytes == 5 * 24 * 4


def test_save_load_round_trip(mod, tmp_path):
    path = tmp_path / "chain.tfm"
    mod.save(path)
    back = tensorforge.load(path)
    assert_same(back.run(X), mod.run(X))
    assert [c.symbol for c in back.kernels] == [c.symbol for c in mod.kernels]
    assert back.memory_plan.offsets == mod.memory_plan.offsets
    assert back.memory_plan.arena_bytes == mod.memory_plan.arena_bytes
    assert str(back.target) == str(mod.target)
    assert back.source("llvm") == mod.source("llvm")


def test_loaded_module_does_not_recompile(mod, tmp_path, monkeypatch):
    path = tmp_path / "chain.tfm"
    mod.save(path)
    import tensorforge.codegen.llvm_library as llvm_library
    monkeypatch.setattr(llvm_library, "build", lambda *a, **k: pytest.fail("recompiled"))
    assert_same(tensorforge.load(path).run(X), mod.run(X))


def _rewrite_header(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "header.json":
                header = json.loads(data)
                change(header)
                data = json.dumps(header)
            zout.writestr(item, data)


def test_file_from_another_version_is_refused(mod, tmp_path):
    mod.save(tmp_path / "a.tfm")
    _rewrite_header(tmp_path / "a.tfm", tmp_path / "b.tfm",
                    lambda h: h.update(tensorforge="0.0.1"))
    with pytest.raises(ModuleFileError, match="saved by TensorForge 0.0.1"):
        tensorforge.load(tmp_path / "b.tfm")


def test_file_for_a_target_the_host_cannot_run_is_refused_at_load(tmp_path):
    inputs, outputs, kernels, _ = chain(5, 24, 3)
    amx = Module.link(inputs, outputs, kernels, Target.parse("llvm -mattr=+amx-tile"))
    amx.save(tmp_path / "amx.tfm")                      # saving needs no runnable host
    with pytest.raises(TargetError, match="missing CPU features.*amx-tile"):
        tensorforge.load(tmp_path / "amx.tfm")


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_garbage_file_is_refused(tmp_path, content):
    (tmp_path / "junk.tfm").write_bytes(content)
    with pytest.raises(ModuleFileError, match="not a TensorForge module"):
        tensorforge.load(tmp_path / "junk.tfm")


def test_damaged_file_is_refused(mod, tmp_path):
    mod.save(tmp_path / "a.tfm")
    _rewrite_header(tmp_path / "a.tfm", tmp_path / "b.tfm", lambda h: h.pop("program"))
    with pytest.raises(ModuleFileError, match="damaged"):
        tensorforge.load(tmp_path / "b.tfm")


def test_tuning_db_missing_is_fine_and_corrupt_warns(tmp_path):
    assert load_best_configs(None, HOST) == {}
    assert load_best_configs(tmp_path / "absent.db", HOST) == {}
    assert not (tmp_path / "absent.db").exists()
    (tmp_path / "bad.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.warns(UserWarning, match="bad.db"):
        assert load_best_configs(tmp_path / "bad.db", HOST) == {}


def test_tuning_db_gives_the_best_config_per_workload(tmp_path):
    from tensorforge.tuner.database import Record, TuningDatabase
    with TuningDatabase(tmp_path / "t.db") as db:
        db.add(Record(str(HOST), "w1", "dense", {"tile": 4}, costs=[2.0]))
        db.add(Record(str(HOST), "w1", "dense", {"tile": 8}, costs=[1.0]))
        db.add(Record("llvm -mcpu=x86-64", "w2", "dense", {"tile": 2}, costs=[1.0]))
    assert load_best_configs(tmp_path / "t.db", HOST) == {"w1": {"tile": 8}}
