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
