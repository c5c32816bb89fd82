"""`sparse-rt bench` end to end on small models and on a .sprt file."""

from __future__ import annotations

import json

import pytest

from sparse_rt.bench.model_bench import SCHEMA

TOP_FIELDS = {"schema", "model", "source", "input_shape", "batch", "threads", "pruning",
              "export", "environment", "sparse_rt", "sparse_rt_dense", "baselines", "flops",
              "speedup", "warnings"}
TIMING_FIELDS = {"median_ms", "p90_ms", "mean_ms", "std_ms", "min_ms", "mad_ms", "spread", "runs",
                 "noisy", "throughput_per_s"}
SPEEDUP_FIELDS = {"theoretical", "vs_sparse_rt_dense", "vs_torch", "vs_torch_dense",
                  "vs_torch_csr", "vs_onnxruntime", "realised"}
FLOP_FIELDS = {"batch", "dense", "useful", "other", "params", "nnz", "weight_sparsity",
               "baseline_dense", "theoretical_speedup"}


def _check_common(r, batch, threads):
    assert TOP_FIELDS <= set(r)
    assert r["schema"] == SCHEMA and r["batch"] == batch and r["threads"] == threads
    assert TIMING_FIELDS <= set(r["sparse_rt"]) and TIMING_FIELDS <= set(r["sparse_rt_dense"])
    assert SPEEDUP_FIELDS == set(r["speedup"]) and FLOP_FIELDS == set(r["flops"])
    env = r["environment"]
    assert env["threads"] == threads and env["sparse_rt"]["isa"] and env["sparse_rt"]["cpu"]
    assert env["numpy"] and "date" in env and len(env["load_average"]) == 3
    s = r["sparse_rt"]
    assert 0 < s["min_ms"] <= s["median_ms"] <= s["p90_ms"] and s["runs"] >= 3
    assert s["throughput_per_s"] == pytest.approx(batch * 1e3 / s["median_ms"])
    fl = r["flops"]
    assert fl["theoretical_speedup"] == pytest.approx(fl["baseline_dense"] / fl["useful"])
    sp = r["speedup"]
    assert sp["vs_sparse_rt_dense"] == pytest.approx(
        r["sparse_rt_dense"]["median_ms"] / s["median_ms"])
    assert sp["realised"] == pytest.approx(sp["vs_sparse_rt_dense"] / sp["theoretical"])


def test_bench_digits_mlp_json(cli_json):
    r = cli_json("bench", "digits_mlp", "--sparsity", "0.8", "--batch", "4", "--torch-csr", "on")
    _check_common(r, 4, 1)
    assert r["source"] == "reference" and r["input_shape"] == [4, 64]
    assert r["pruning"]["pattern"] == "unstructured" and r["pruning"]["sparsity"] == 0.8
    # fc1 and fc2 pruned to 80% (per layer), fc3 (the last) dense: 64*300 + 300*100 + 100*10
    assert r["flops"]["params"] == 64 * 300 + 300 * 100 + 100 * 10
    assert r["flops"]["nnz"] == round(0.2 * 64 * 300) + round(0.2 * 300 * 100) + 1000
    b = r["baselines"]
    torch_version = r["environment"]["torch"]
    for key in ("torch_eager", "torch_eager_dense", "torch_csr"):
        assert b[key]["version"] == torch_version and torch_version in b[key]["name"]
        assert b[key]["median_ms"] > 0
    assert b["torch_csr"]["layers"] == ["fc1", "fc2"]
    assert r["speedup"]["vs_torch"] == pytest.approx(
        b["torch_eager"]["median_ms"] / r["sparse_rt"]["median_ms"])


def test_bench_digits_cnn_table_and_per_layer(cli):
    code, out, _ = cli("bench", "digits_cnn", "--pattern", "block:4x4", "--sparsity", "0.75",
                       "--per-layer")
    assert code == 0
    assert "digits_cnn, block:4x4 75%" in out
    for text in ("median ms", "p90 ms", "sparse_rt, this model", "sparse_rt, unpruned model dense",
                 "torch", "theoretical", "realised", "ISA", "threads", "per layer"):
        assert text in out, text
    for layer in ("conv1.0", "conv2.0", "fc1", "fc2"):
        assert layer in out


def test_bench_per_layer_json(cli_json):
    r = cli_json("bench", "digits_cnn", "--sparsity", "0.5", "--per-layer", "--no-torch")
    pl = r["per_layer"]
    assert pl["method"] and r["baselines"] == {}
    names = [layer["name"] for layer in pl["layers"]]
    assert {"conv1.0", "conv2.0", "fc1", "fc2"} <= set(names)
    for layer in pl["layers"]:
        assert layer["median_ms"] >= 0 and layer["useful_flops"] <= layer["dense_flops"] or \
            layer["op"] not in ("conv2d", "linear")
        if layer["op"] in ("conv2d", "linear"):
            assert layer["format"] and layer["median_ms"] > 0


def test_bench_file_with_baseline(cli_json, tmp_path, fast_opts):
    import torch

    import sparse_rt
    from sparse_rt import models, prune

    torch.manual_seed(0)
    model = models.digits_cnn()
    x = torch.randn(2, 1, 8, 8)
    sparse_rt.export(model, x, tmp_path / "dense.sprt", format="dense", measure=False)
    small = prune.channels(model, 0.5, example_input=(1, 1, 8, 8), filter_fn=prune.every_layer)
    sparse_rt.export(small, x, tmp_path / "small.sprt", measure=False)
    r = cli_json("bench", str(tmp_path / "small.sprt"), "--baseline", str(tmp_path / "dense.sprt"),
                 "--batch", "2")
    assert r["source"] == "file" and r["input_shape"] == [2, 1, 8, 8]
    fl = r["flops"]
    assert fl["baseline_dense"] > fl["dense"]        # the original is bigger than the cut model
    assert fl["theoretical_speedup"] == pytest.approx(fl["baseline_dense"] / fl["useful"])
    assert fl["theoretical_speedup"] > 2
    # without a baseline, a dense file's own FLOPs are the baseline: theoretical 1
    r = cli_json("bench", str(tmp_path / "dense.sprt"))
    assert r["flops"]["theoretical_speedup"] == pytest.approx(1.0)


@pytest.mark.parametrize("args, match", [
    (("bench", "digits_mlp", "--pattern", "block:3"), "block:3"),
    (("bench", "digits_mlp", "--pattern", "3:2"), "3:2"),
    (("bench", "digits_mlp", "--sparsity", "1.5"), "1.5"),
    (("bench", "digits_mlp", "--match", "bytes", "--pattern", "channel"), "bytes"),
    (("bench", "digits_mlp", "--format", "coo"), "coo"),
    (("bench", "digits_mlp", "--batch", "0"), "0"),
    (("bench", "digits_mlp", "--pattern", "2:4", "--sparsity", "0.9"), "0.9"),
    (("bench", "resnet51"), "resnet51"),
    (("bench", "digits_mlp", "--input-size", "32"), "32"),
    (("bench", "missing.sprt"), "missing.sprt"),
    (("bench", "x.sprt", "--sparsity", "0.5"), "--sparsity"),
    (("compare", "digits_mlp", "--sparsities", "0.5,abc"), "abc"),
])
def test_bad_options_name_the_value(cli, args, match):
    code, _, err = cli(*args)
    assert code == 2
    assert "sparse-rt: error:" in err and match in err


def test_json_is_plain_json(cli):
    code, out, _ = cli("bench", "digits_mlp", "--sparsity", "0.5", "--json", "--no-torch")
    assert code == 0
    r = json.loads(out)
    assert json.loads(json.dumps(r)) == r


def test_onnxruntime_baseline_names_its_version(cli_json):
    ort = pytest.importorskip("onnxruntime")
    r = cli_json("bench", "digits_cnn", "--sparsity", "0.5", "--warmup", "1", "--min-runs", "3",
                 "--min-time", "0.01", "--no-measure", "--threads", "1", "--no-progress",
                 fast=False)
    b = r["baselines"]["onnxruntime"]
    assert b["version"] == ort.__version__ == r["environment"]["onnxruntime"]
    assert ort.__version__ in b["name"] and b["median_ms"] > 0
    assert r["speedup"]["vs_onnxruntime"] == pytest.approx(
        b["median_ms"] / r["sparse_rt"]["median_ms"])
