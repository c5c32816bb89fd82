"""format="auto" with measurement: candidates timed through the runtime, cached, recorded."""

import os

import torch
import torch.nn as nn

import sparse_rt
from sparse_rt.format import read_model


def _model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64))
    with torch.no_grad():
        m[0].weight[torch.rand_like(m[0].weight) < 0.95] = 0
    return m.eval()


def test_auto_measures_records_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSE_RT_CACHE_DIR", str(tmp_path / "cache"))
    model, x = _model(), torch.randn(8, 256)
    s = sparse_rt.export(model, x, tmp_path / "m.sprt")
    first = s.layers[0]
    assert set(first.timings_ms) >= {"dense", "csr"}
    info = read_model(tmp_path / "m.sprt").meta["nodes"][0]["layer_info"]
    # timed at the example batch (8) and at 16; the winner has the best geometric mean of
    # time relative to dense over both
    by_batch = info["timings_ms_by_batch"]
    assert set(by_batch) == {"8", "16"} and by_batch["8"] == first.timings_ms

    def score(label):
        return ((by_batch["8"][label] / by_batch["8"]["dense"])
                * (by_batch["16"][label] / by_batch["16"]["dense"])) ** 0.5

    best = min(first.timings_ms, key=score)
    assert first.format == ("bsr" if best.startswith("bsr") else best)
    assert "batches 8 / 16" in first.reason
    assert info["timings_ms"] == first.timings_ms and info["format_reason"] == first.reason
    assert os.path.exists(tmp_path / "cache" / "export_timings.json")

    # Re-export: every timing comes from the cache, so no candidate model is built.
    from sparse_rt.exporter import choose

    def fail(*a, **k):
        raise AssertionError("timed again despite the cache")

    monkeypatch.setattr(choose, "_time_candidate", fail)
    again = sparse_rt.export(model, x, tmp_path / "m2.sprt")
    assert again.layers[0].timings_ms == first.timings_ms


def test_large_example_batch_is_timed_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSE_RT_CACHE_DIR", str(tmp_path / "cache"))
    s = sparse_rt.export(_model(), torch.randn(32, 256), tmp_path / "m.sprt")
    info = read_model(tmp_path / "m.sprt").meta["nodes"][0]["layer_info"]
    assert "timings_ms_by_batch" not in info and "fastest at batch 32" in s.layers[0].reason
    t = s.layers[0].timings_ms
    best = min(t, key=t.get)
    assert s.layers[0].format == ("bsr" if best.startswith("bsr") else best)


def test_threshold_fallback_without_measurement(tmp_path):
    s = sparse_rt.export(_model(), torch.randn(2, 256), tmp_path / "m.sprt", measure=False)
    assert s.layers[0].format == "csr" and "threshold" in s.layers[0].reason
    assert s.layers[1].format == "dense"
