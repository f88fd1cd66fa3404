"""Targets: parsing, aliases, clear errors, and refusing to run code the host cannot execute."""

import pytest

from tensorforge.codegen.target import Target, TargetError, host_features


def test_host_target_matches_host_and_is_runnable():
    t = Target.parse("llvm")
    assert t.features <= host_features()
    t.check_runnable()
    assert t.vector_bits == (512 if "avx512f" in host_features() else
                             256 if "avx" in host_features() else 128)


@pytest.mark.parametrize("text,bits", [("llvm -mcpu=avx512", 512), ("llvm -mcpu=x86-64-v4", 512),
                                       ("llvm -mcpu=haswell", 256), ("llvm -mcpu=x86-64", 128),
                                       ("llvm -mcpu=znver4 -mattr=-avx512f", 256)])
def test_named_cpus_have_probed_vector_width(text, bits):
    assert Target.parse(text).vector_bits == bits


def test_avx512_alias_and_features():
    t = Target.parse("llvm -mcpu=avx512")
    assert t.cpu == "x86-64-v4"
    assert {"avx512f", "avx512bw", "avx512dq", "avx2", "fma"} <= t.features
    assert "avx512f" not in Target.parse("llvm -mcpu=haswell").features


@pytest.mark.parametrize("text", ["llvm", "llvm -mcpu=haswell", "llvm -mcpu=avx512 -mattr=+avx2,-fma"])
def test_str_round_trips(text):
    t = Target.parse(text)
    assert Target.parse(str(t)) == t


def test_unknown_cpu_is_a_clear_error():
    with pytest.raises(TargetError, match="unknown CPU 'pentium9000'.*x86-64-v4"):
        Target.parse("llvm -mcpu=pentium9000")


@pytest.mark.parametrize("text,match", [("llvm -mattr=+notafeature", "notafeature"),
                                        ("llvm -mattr=avx2", "start with"),
                                        ("opencl", "unsupported target"),
                                        ("cuda -arch=90", "bad CUDA architecture"),
                                        ("cuda -mcpu=haswell", "unknown target option"),
                                        ("llvm -O3", "unknown target option")])
def test_bad_target_strings(text, match):
    with pytest.raises(TargetError, match=match):
        Target.parse(text)


def test_missing_features_refuse_to_run():
    t = Target.parse("llvm -mattr=+amx-tile")  # no host here has AMX enabled for us
    if "amx-tile" in host_features():
        pytest.skip("host has AMX")
    with pytest.raises(TargetError, match="missing CPU features amx-tile"):
        t.check_runnable()


def test_avx512_target_refused_on_hosts_without_it():
    t = Target.parse("llvm -mcpu=avx512")
    if "avx512f" in host_features():
        t.check_runnable()
    else:
        with pytest.raises(TargetError, match="avx512f"):
            t.check_runnable()


@pytest.mark.parametrize("text,arch", [("cuda", ""), ("cuda -arch=sm_90", "sm_90")])
def test_cuda_targets_are_data(text, arch):
    t = Target(text)
    assert t == Target.parse(text) and str(t) == text
    assert (t.kind, t.arch) == ("cuda", arch)
    assert (t.warp_size, t.max_threads_per_block, t.shared_memory_per_block, t.vector_bits) == \
        (32, 1024, 48 * 1024, 128)
    assert t.with_arch("sm_86") == Target("cuda -arch=sm_86")
    t.check_runnable()  # the device is the CUDA runtime's to check


def test_llvm_targets_have_no_gpu_limits():
    t = Target("llvm -mcpu=haswell")
    assert t == Target.parse("llvm -mcpu=haswell") and t.kind == "llvm"
    with pytest.raises(TargetError, match="not a GPU target"):
        t.warp_size
    with pytest.raises(TargetError, match="not a CUDA target"):
        t.with_arch("sm_90")
