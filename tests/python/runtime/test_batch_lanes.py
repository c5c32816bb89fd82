"""Batches with several threads run in lanes (docs/runtime.md, "Batches"): every sample's
output must equal running that sample alone, for lanes of one sample per chunk (large
activations) and of many (small models), odd batch sizes, and with lanes switched off."""

import os
import subprocess
import sys

import numpy as np
import pytest

import sparse_rt

torch = pytest.importorskip("torch")


def _export(tmp_path, size):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 5)).eval()
    path = tmp_path / f"net{size}.sprt"
    sparse_rt.export(net, torch.zeros(1, 3, size, size), path, format="dense", measure=False)
    return net, path


@pytest.mark.parametrize("size", [8, 160])  # ~2 KB vs ~2.5 MB of activations per sample
@pytest.mark.parametrize("batch", [2, 3, 7])
def test_lanes_match_single_samples(tmp_path, size, batch):
    net, path = _export(tmp_path, size)
    m = sparse_rt.load(path, num_threads=2)
    x = np.random.default_rng(batch).standard_normal((batch, 3, size, size)).astype(np.float32)
    got = m(x)
    one = np.concatenate([m(x[i:i + 1]) for i in range(batch)])
    np.testing.assert_allclose(got, one, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(got, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_batch_tail(tmp_path):
    """The classifier after large activations runs once over the whole batch (the batch tail),
    not per sample in the lanes; a net whose every value is small has no tail. Outputs equal
    the single-sample runs either way, and the profile's layers add up within the run."""
    net, path = _export(tmp_path, 160)
    m = sparse_rt.load(path, num_threads=2)
    assert "batch tail: the last 1 layer(s)" in str(m), str(m)
    x = np.random.default_rng(5).standard_normal((5, 3, 160, 160)).astype(np.float32)
    p = m.profile(x, repeat=2)
    assert p["overhead_ms"] >= 0 and p["layers_ms"][-1] > 0, p
    got = m(x)
    np.testing.assert_allclose(got, np.concatenate([m(x[i:i + 1]) for i in range(5)]),
                               rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(got, net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
    _, small = _export(tmp_path, 8)
    assert "batch tail" not in str(sparse_rt.load(small, num_threads=2))


def test_no_batch_tail_when_an_output_comes_before_it(tmp_path, rt):
    """A second output taken from the trunk (large, per sample in the lanes) keeps the whole
    net in the lanes; both outputs still equal the single-sample runs."""
    rng = np.random.default_rng(3)
    wc, dc = rt.weight_tensors("c", rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "dense")
    wl, dl = rt.weight_tensors("fc", rt.sparse_weight(rng, (5, 16), 0.5), "csr")
    nodes = [
        {"name": "c", "op": "conv2d", "inputs": ["x"], "outputs": ["h"],
         "attrs": {"in_channels": 3, "out_channels": 16, "kernel": [3, 3], "padding": [1, 1]},
         "weight": dc},
        {"name": "gap", "op": "global_avg_pool", "inputs": ["h"], "outputs": ["g"]},
        {"name": "flat", "op": "flatten", "inputs": ["g"], "outputs": ["f"]},
        {"name": "fc", "op": "linear", "inputs": ["f"], "outputs": ["y"],
         "attrs": {"in_features": 16, "out_features": 5}, "weight": dl},
    ]
    d = rt.doc([rt.io("x", [None, 3, 48, 48])],
               [rt.io("h", [None, 16, 48, 48]), rt.io("y", [None, 5])], nodes)
    path = rt.write(tmp_path / "two.sprt", d, {**wc, **wl})
    m = sparse_rt.load(path, num_threads=2)
    assert "batch tail" not in str(m)
    x = np.random.default_rng(4).standard_normal((3, 3, 48, 48)).astype(np.float32)
    got = m(x)
    for name in ("h", "y"):
        one = np.concatenate([m(x[i:i + 1])[name] for i in range(3)])
        np.testing.assert_allclose(got[name], one, rtol=1e-5, atol=1e-6)


def test_lanes_can_be_switched_off(tmp_path):
    _, path = _export(tmp_path, 160)
    code = ("import numpy as np, sparse_rt, sys; m = sparse_rt.load(sys.argv[1], num_threads=2); "
            "x = np.random.default_rng(0).standard_normal((4, 3, 160, 160)).astype(np.float32); "
            "np.save(sys.argv[2], m(x))")
    outs = []
    for lanes in ("0", "1"):
        out = tmp_path / f"y{lanes}.npy"
        env = {**os.environ, "SPARSE_RT_BATCH_LANES": lanes}
        subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True, env=env)
        outs.append(np.load(out))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
