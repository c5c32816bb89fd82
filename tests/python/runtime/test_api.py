"""The Python face of the runtime: load(), Model calls, input checks, threads, report/str."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import sparse_rt


@pytest.fixture
def net(tmp_path, rt):
    d, t = rt.tiny_net()
    return rt.write(tmp_path / "net.sprt", d, t)


def _x(n=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 11, 9)).astype(np.float32)


def test_load_and_call(rt, net):
    m = sparse_rt.load(net)
    assert isinstance(m, sparse_rt.Model)
    assert m.inputs == [("x", (None, 3, 11, 9))] and m.outputs == [("y", (None, 10))]
    assert m.inputs[0].name == "x" and m.inputs[0].shape == (None, 3, 11, 9)
    y = rt.check(net, _x(), model=m)
    np.testing.assert_array_equal(m.run(_x()), y)
    out = m({"x": _x()})
    assert list(out) == ["y"]
    np.testing.assert_array_equal(out["y"], y)


def test_input_dtype_and_type_rejected(net):
    m = sparse_rt.load(net)
    with pytest.raises(ValueError, match="dtype float64"):
        m(_x().astype(np.float64))
    with pytest.raises(ValueError, match="dtype int32"):
        m(np.zeros((1, 3, 11, 9), np.int32))
    with pytest.raises(TypeError, match="numpy array"):
        m(_x().tolist())


def test_input_shape_checked(net):
    m = sparse_rt.load(net)
    for bad in [(1, 3, 11, 8), (3, 11, 9), (1, 1, 3, 11, 9), (2, 4, 11, 9)]:
        with pytest.raises(ValueError, match=r"input 'x' has shape .*, expected \[N, 3, 11, 9\]"):
            m(np.zeros(bad, np.float32))
    with pytest.raises(ValueError, match="missing input 'x'"):
        m({"z": _x()})
    with pytest.raises(ValueError, match="unknown input"):
        m({"x": _x(), "z": _x()})


def test_non_contiguous_input_is_copied(rt, net):
    m = sparse_rt.load(net)
    big = np.asfortranarray(_x(3))
    assert not big.flags.c_contiguous
    np.testing.assert_array_equal(m(big), m(np.ascontiguousarray(big)))
    strided = np.random.default_rng(1).standard_normal((6, 3, 11, 9)).astype(np.float32)[::2]
    np.testing.assert_array_equal(m(strided), m(strided.copy()))


def test_batch_sizes_change_between_calls(rt, net):
    m = sparse_rt.load(net)
    for n in (1, 5, 2, 7, 1):
        rt.check(net, _x(n, seed=n), model=m)


def test_threads_share_one_model(net):
    """Several Python threads call one model at once: each result equals the serial one."""
    m = sparse_rt.load(net, num_threads=1)
    xs = [_x(1 + i % 3, seed=i) for i in range(8)]
    want = [m(x) for x in xs]
    results = {}
    errors = []
    barrier = threading.Barrier(4)

    def worker(k):
        try:
            barrier.wait()
            for rep in range(25):
                i = (k + rep) % len(xs)
                y = m(xs[i])
                if not np.array_equal(y, want[i]):
                    errors.append((k, rep))
            results[k] = True
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4


def test_num_threads_option(net):
    assert sparse_rt.load(net, num_threads=1).num_threads == 1
    assert sparse_rt.load(net).num_threads == sparse_rt.get_num_threads()
    with pytest.raises(ValueError, match="num_threads"):
        sparse_rt.load(net, num_threads=0)
    with pytest.raises(TypeError):
        sparse_rt.load(net, num_threads=1.5)
    x = _x(3)
    np.testing.assert_allclose(sparse_rt.load(net, num_threads=2)(x),
                               sparse_rt.load(net, num_threads=1)(x), rtol=1e-5, atol=1e-6)


def test_report_and_str(net):
    m = sparse_rt.load(net)
    rows = m.report()
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    keys = {"name", "op", "fused", "activation", "input_shapes", "output_shape", "format",
            "density", "kernel", "dense_flops", "useful_flops"}
    assert all(set(r) == keys for r in rows)
    c2 = next(r for r in rows if r["name"] == "c2")
    assert c2["format"] == "csr" and 0 < c2["density"] < 1
    assert c2["useful_flops"] < c2["dense_flops"]
    assert c2["input_shapes"] == [(None, 8, 6, 9)] and c2["output_shape"] == (None, 8, 6, 9)
    c3 = next(r for r in rows if r["name"] == "c3")
    assert c3["format"] == "bsr 2x4" and c3["fused"] == ["bn3", "res", "r4"]  # residual add
    assert c3["input_shapes"] == [(None, 8, 6, 9), (None, 8, 6, 9)]
    assert next(r for r in rows if r["name"] == "pool")["format"] is None
    table = str(rows)
    assert "c1+bn1+r1" in table and "useful" in table and "csr" in table
    text = str(m)
    assert "input  x [N, 3, 11, 9]" in text and "output y [N, 10]" in text
    assert "reused buffers" in text and "c3+bn3" in text
    assert "sparse_rt.Model(" in repr(m)


def test_profile_overhead(net):
    m = sparse_rt.load(net)
    p = m.profile(_x(1), repeat=3)
    assert len(p["layers_ms"]) == len(m.report())
    assert p["total_ms"] > 0 and p["overhead_ms"] >= 0


def test_profile_with_lanes_adds_up(net):
    """A batch on 2 threads runs in 2 lanes side by side: the layer times are lane 0's, so
    they and the overhead add up to the run (scaled by the lanes they summed to ~2x the run)."""
    m = sparse_rt.load(net, num_threads=2)
    x = _x(512)
    p = m.profile(x, repeat=5)
    # Firm in every run: lane 0's layers fit inside the run (lane 1 may lag on a loaded
    # machine, so there is no lower bound). The overhead is a median of per-run differences;
    # the sum of per-layer medians is not a median of sums, so it gets a margin for noise.
    assert p["overhead_ms"] >= 0, p
    assert sum(p["layers_ms"]) <= 1.25 * p["total_ms"], p
    assert min(p["layers_ms"]) >= 0 and sum(p["layers_ms"]) > 0, p


def test_import_does_not_import_torch():
    code = ("import sys, sparse_rt; m = sparse_rt.load; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env=None)


def test_load_errors_are_model_format_errors(tmp_path):
    p = tmp_path / "junk.sprt"
    p.write_bytes(b"\x00" * 3)
    with pytest.raises(sparse_rt.ModelFormatError, match="too short") as ei:
        sparse_rt.load(p)
    assert isinstance(ei.value, ValueError)
