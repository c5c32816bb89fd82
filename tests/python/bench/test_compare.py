"""`sparse-rt compare` on a tiny grid: every output written, non-empty and consistent."""

from __future__ import annotations

import csv
import json

import pytest

from sparse_rt.bench.compare import grid
from sparse_rt.bench.report import CSV_FIELDS, analyse, answer_lines


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    import sparse_rt
    from sparse_rt.cli import main

    if not hasattr(sparse_rt, "load"):
        pytest.skip("this build has no sparse_rt.load (model runtime)")
    out = tmp_path_factory.mktemp("compare")
    code = main(["compare", "digits_cnn", "--sparsities", "0.5,0.9",
                 "--patterns", "unstructured,block:4x4,2:4,channel", "--out", str(out),
                 "--no-progress", "--warmup", "1", "--min-runs", "3", "--min-time", "0.01",
                 "--no-measure", "--no-onnx", "--threads", "1"])
    assert code == 0
    return out


def test_files_written_and_non_empty(sweep_dir):
    for name in ("results.json", "results.csv", "report.md", "speedup_vs_sparsity.png",
                 "actual_vs_theoretical.png", "per_layer.png"):
        assert (sweep_dir / name).stat().st_size > 0, name
    for name in ("speedup_vs_sparsity.png", "actual_vs_theoretical.png", "per_layer.png"):
        assert (sweep_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_json_and_csv_agree(sweep_dir):
    data = json.loads((sweep_dir / "results.json").read_text())
    assert data["schema"] == "sparse_rt.compare/1" and data["model"] == "digits_cnn"
    assert data["environment"]["sparse_rt"]["isa"]
    # dense + 2 unstructured + 2 block + one 2:4 (fixed 50%) + 2 channel
    points = [(r["pruning"]["pattern"], r["pruning"]["sparsity"]) for r in data["results"]]
    assert points == [("dense", 0.0), ("unstructured", 0.5), ("unstructured", 0.9),
                      ("block:4x4", 0.5), ("block:4x4", 0.9), ("2:4", 0.5), ("channel", 0.5),
                      ("channel", 0.9)]
    with open(sweep_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == len(points)
    for row, r in zip(rows, data["results"]):
        assert float(row["median_ms"]) == pytest.approx(r["sparse_rt"]["median_ms"])
        assert float(row["theoretical_speedup"]) == pytest.approx(
            r["flops"]["theoretical_speedup"])
    # per-layer timing for dense and each pattern's top sparsity only
    with_layers = [(r["pruning"]["pattern"], r["pruning"]["sparsity"]) for r in data["results"]
                   if "per_layer" in r]
    assert with_layers == [("dense", 0.0), ("unstructured", 0.9), ("block:4x4", 0.9),
                           ("2:4", 0.5), ("channel", 0.9)]
    # channel points are smaller models: their theoretical speedup grows with the sparsity
    chan = [r for r in data["results"] if r["pruning"]["pattern"] == "channel"]
    assert 1 < chan[0]["flops"]["theoretical_speedup"] < chan[1]["flops"]["theoretical_speedup"]


def test_report_states_the_answer(sweep_dir):
    text = (sweep_dir / "report.md").read_text()
    assert "## The answer" in text
    for pattern in ("unstructured", "block:4x4", "2:4", "channel"):
        assert f"**{pattern}**" in text
    assert ("starts to pay" in text) or ("does not pay" in text)
    assert "at equal flops" in text.lower()
    assert "![speedup_vs_sparsity.png](speedup_vs_sparsity.png)" in text


def _fake_sweep():
    """A sweep with known speedups, to check the words."""
    def point(pattern, s, speedup, theo):
        med = 10.0 / speedup
        return {"model": "m", "batch": 1, "threads": 2, "input_shape": [1, 3, 8, 8],
                "pruning": {"pattern": pattern, "sparsity": s},
                "flops": {"weight_sparsity": s, "theoretical_speedup": theo, "useful": 1,
                          "dense": 1, "baseline_dense": 1},
                "speedup": {"vs_sparse_rt_dense": speedup, "vs_torch": speedup, "realised":
                            speedup / theo},
                "sparse_rt": {"median_ms": med, "p90_ms": med, "std_ms": 0, "noisy": False,
                              "runs": 3},
                "sparse_rt_dense": {"median_ms": 10.0},
                "baselines": {"torch_eager_dense": {"median_ms": 20.0}},
                "export": {"formats": {"csr": 1}}}
    results = [point("dense", 0.0, 1.0, 1.0),
               point("unstructured", 0.5, 0.8, 2.0), point("unstructured", 0.7, 1.2, 3.3),
               point("unstructured", 0.9, 2.5, 10.0),
               point("channel", 0.5, 1.6, 2.0), point("channel", 0.7, 2.4, 3.3),
               point("channel", 0.9, 4.0, 10.0)]
    return {"model": "m", "threads": 2, "input_shape": [1, 3, 8, 8], "results": results}


def test_analysis_words_on_known_numbers():
    sweep = _fake_sweep()
    a = analyse(sweep)
    assert a["patterns"]["unstructured"]["pays_vs_sparse_rt_dense_from"] == 0.7
    assert a["patterns"]["channel"]["pays_vs_sparse_rt_dense_from"] == 0.5
    # torch is 2x slower than dense sparse_rt: unstructured beats it from 50% (0.8 * 2 = 1.6)
    assert a["patterns"]["unstructured"]["pays_vs_torch_from"] == 0.5
    assert a["at_sparsity"]["0.9"]["fastest"] == "channel"
    assert all(v["fastest"] == "channel" for v in a["at_equal_theoretical_speedup"].values())
    text = "\n".join(answer_lines(sweep))
    assert "**unstructured** starts to pay at 70% sparsity" in text
    assert "**channel** gives the most speed at equal FLOPs" in text


def test_grid_rules():
    pts = grid([0.9, 0.5, 0.0], ["unstructured", "2:4"])
    assert [(p.label, s) for p, s in pts] == [("unstructured", 0.5), ("unstructured", 0.9),
                                              ("2:4", 0.5)]
    with pytest.raises(ValueError, match="1.2"):
        grid([1.2], ["unstructured"])
    with pytest.raises(ValueError, match="diagonal"):
        grid([0.5], ["diagonal"])
