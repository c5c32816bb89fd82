import os
import subprocess
import sys

import pytest

import sparse_rt


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=120)


def test_runtime_info_has_documented_keys():
    info = sparse_rt.runtime_info()
    for key in ("version", "isa", "isa_available", "isa_built", "num_threads", "openmp", "blas"):
        assert key in info, key
    assert info["version"] == sparse_rt.__version__
    assert info["isa"] in info["isa_available"]
    assert set(info["isa_available"]) <= set(info["isa_built"])
    assert "scalar" in info["isa_built"]
    assert info["num_threads"] >= 1
    assert "libgomp" in info["openmp"]
    assert "OpenBLAS" in info["blas"]
    assert info["blas_threads"] == 1


def test_isa_env_cap_is_honoured():
    for isa in sparse_rt.runtime_info()["isa_available"]:
        out = _run("import sparse_rt; print(sparse_rt.runtime_info()['isa'])", SPARSE_RT_ISA=isa)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == isa


def test_bad_isa_env_fails_at_import_with_allowed_values():
    out = _run("import sparse_rt", SPARSE_RT_ISA="sse9")
    assert out.returncode != 0
    assert "ValueError" in out.stderr
    assert "SPARSE_RT_ISA='sse9'" in out.stderr
    assert "scalar, avx2, avx512" in out.stderr


def test_bad_thread_env_fails_at_import():
    out = _run("import sparse_rt", SPARSE_RT_NUM_THREADS="zero")
    assert out.returncode != 0
    assert "SPARSE_RT_NUM_THREADS" in out.stderr


def test_thread_env_is_honoured():
    out = _run("import sparse_rt; print(sparse_rt.get_num_threads())", SPARSE_RT_NUM_THREADS="3")
    assert out.stdout.strip() == "3", out.stderr


def test_import_does_not_import_torch():
    out = _run("import sys, sparse_rt, sparse_rt.ops, sparse_rt.formats; "
               "print('torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_set_isa_and_threads_validate():
    before_isa, before_threads = sparse_rt.get_isa(), sparse_rt.get_num_threads()
    with pytest.raises(ValueError, match="allowed values"):
        sparse_rt.set_isa("sse9")
    with pytest.raises(TypeError):
        sparse_rt.set_isa(2)
    with pytest.raises(ValueError):
        sparse_rt.set_num_threads(0)
    with pytest.raises(TypeError):
        sparse_rt.set_num_threads(1.5)
    sparse_rt.set_isa("scalar")
    assert sparse_rt.runtime_info()["isa"] == "scalar"
    sparse_rt.set_isa(before_isa)
    sparse_rt.set_num_threads(1)
    assert sparse_rt.runtime_info()["num_threads"] == 1
    sparse_rt.set_num_threads(before_threads)
    assert sparse_rt.get_isa() == before_isa


def test_cli_info_prints_runtime():
    out = subprocess.run([sys.executable, "-m", "sparse_rt.cli", "info"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "isa" in out.stdout and sparse_rt.runtime_info()["isa"] in out.stdout


def test_cli_info_json_is_machine_readable():
    import json

    out = subprocess.run([sys.executable, "-m", "sparse_rt.cli", "info", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["isa"] == sparse_rt.runtime_info()["isa"]
