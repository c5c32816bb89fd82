"""``sparse-rt demo`` in a tiny configuration: it runs, its outputs exist, and the accuracy it
reports is the accuracy of sparse_rt's own outputs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sparse_rt

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("rich")

from sparse_rt.demo import DemoConfig, quick_config  # noqa: E402
from sparse_rt.demo import data as demo_data  # noqa: E402
from sparse_rt.demo import report as demo_report  # noqa: E402

CHANCE = 0.1


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread: tiny models on a shared 2-core machine (see tests/python/prune)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One model, magnitude (global) at 90% plus L1 filter pruning, one seed, 12 epochs, no
    part 2; timing kept short. The export timing cache goes to a temporary folder."""
    if not hasattr(sparse_rt, "load"):
        pytest.skip("needs sparse_rt.load (the C++ graph runtime)")
    root = tmp_path_factory.mktemp("demo")
    cache = os.environ.get("SPARSE_RT_CACHE_DIR")
    os.environ["SPARSE_RT_CACHE_DIR"] = str(root / "cache")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = quick_config(out=str(root / "out"), models=("mlp",),
                           methods=("magnitude-global", "l1-filter"), sparsities=(0.9,),
                           seeds=(0,), epochs=12, threads=1, speed=None,
                           timing_min_seconds=0.01)
        result = sparse_rt.demo.run(cfg, console=None, progress=False)
    finally:
        torch.set_num_threads(before)
        if cache is None:
            os.environ.pop("SPARSE_RT_CACHE_DIR", None)
        else:
            os.environ["SPARSE_RT_CACHE_DIR"] = cache
    return cfg, result


def test_runs_cover_the_configuration(tiny):
    cfg, result = tiny
    kinds = sorted((r["study"], r["method"]) for r in result["runs"])
    assert kinds == [("dense", "dense"), ("grid", "l1-filter"), ("grid", "magnitude-global"),
                     ("target", "l1-filter")]
    grid = [r for r in result["runs"] if r["study"] == "grid"]
    for r in grid:
        assert r["sparsity_requested"] == 0.9
        assert abs(r["sparsity_achieved"] - 0.9) < 0.01, r


def test_accuracy_is_far_above_chance(tiny):
    _, result = tiny
    for r in result["runs"]:                        # 10 classes: chance is 10%
        assert r["accuracy"] > 5 * CHANCE, r
        if r["method"] in ("dense", "magnitude-global"):
            assert r["accuracy"] > 9 * CHANCE, r


def test_reported_accuracy_is_recomputed_from_sparse_rt_outputs(tiny):
    cfg, result = tiny
    digits = demo_data.load()
    x = digits.inputs("mlp")
    with open(os.path.join(cfg.out, "runs.json")) as f:
        doc = json.load(f)
    with open(os.path.join(cfg.out, "runs.csv"), newline="") as f:
        table = list(csv.DictReader(f))
    assert len(doc["runs"]) == len(table) == len(result["runs"])
    for row, saved, line in zip(result["runs"], doc["runs"], table):
        logits = sparse_rt.load(os.path.join(cfg.out, row["path"]))(x)
        recomputed = float(np.mean(np.argmax(logits, axis=1) == digits.y_test))
        assert recomputed == row["accuracy"] == saved["accuracy"], row
        assert float(line["accuracy"]) == pytest.approx(recomputed, abs=1e-6)
        # torch is only the cross-check; one image of 450 may flip on a near-tie
        assert abs(row["accuracy_torch"] - recomputed) <= 1 / 450 + 1e-12
        assert row["accuracy_drop_pp"] == pytest.approx(
            100 * (row["accuracy_dense"] - row["accuracy"]))


def test_outputs_exist_and_are_not_empty(tiny):
    cfg, result = tiny
    for name in ("runs.csv", "runs.json", "report.md", "accuracy_vs_sparsity.png",
                 "accuracy_vs_speedup.png"):
        path = os.path.join(cfg.out, name)
        assert os.path.getsize(path) > 100, name
        assert result["files"][name] == path
    with open(os.path.join(cfg.out, "accuracy_vs_speedup.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(cfg.out, "report.md")) as f:
        text = f.read()
    assert "## The answer" in text and "accuracy_vs_speedup.png" in text
    assert sparse_rt.runtime_info()["isa"] in text and torch.__version__ in text


def test_timings_and_speedups_are_consistent(tiny):
    _, result = tiny
    dense = next(r for r in result["runs"] if r["study"] == "dense")
    for r in result["runs"]:
        assert r["latency_b1_ms"] > 0 and r["latency_test_ms"] > 0
        assert r["speedup_test"] == pytest.approx(dense["latency_test_ms"] / r["latency_test_ms"])
        assert r["speedup_vs_torch_b1"] == pytest.approx(
            dense["torch_latency_b1_ms"] / r["latency_b1_ms"])
        assert r["file_bytes"] == os.path.getsize(os.path.join(os.path.dirname(
            result["files"]["runs.csv"]), r["path"]))
    grid = [r for r in result["runs"] if r["study"] == "grid"]
    assert all(r["flop_speedup"] > 5 for r in grid)          # 90% of the weights gone


def test_answer_and_targets(tiny):
    _, result = tiny
    assert any("at 90% sparsity" in line and "keeps accuracy best" in line
               for line in result["answer"])
    targets = demo_report.quality_targets(result["runs"])
    channel = [t for t in targets if t["target"].startswith("50% of channels")]
    assert len(channel) == 1 and "50% of channels removed" in channel[0]["setting"]
    target_run = next(r for r in result["runs"] if r["study"] == "target")
    assert target_run["channels_removed"] == pytest.approx(0.5, abs=0.01)


def test_speed_plot_and_answer_from_rows(tmp_path):
    rows = [{"pattern": p, "sparsity": s, "batch": 1, "image_size": 64, "sparse_rt_ms": ms,
             "torch_ms": 10.0, "torch_is_dense_model": p in ("unstructured", "block 4x4"),
             "flop_speedup": f, "speedup_vs_dense": 10.0 / ms, "speedup_vs_torch": 10.0 / ms,
             "formats": {"csr": 3}, "file_bytes": 1000, "noisy_timing": False}
            for p, s, ms, f in (("dense", 0.0, 10.0, 1.0), ("unstructured", 0.9, 4.0, 7.9),
                                ("block 4x4", 0.9, 3.0, 7.9), ("channels", 0.9, 2.0, 7.6))]
    path = demo_report.plot_speed(rows, str(tmp_path / "speed.png"))
    assert os.path.getsize(path) > 1000
    lines = demo_report.answer([], rows)
    assert len(lines) == 3 and "2.50x vs dense in sparse_rt" in lines[0]


def test_dense_training_is_deterministic():
    from sparse_rt.demo import train

    digits = demo_data.load()
    a = train.train_dense(digits, "mlp", seed=3, epochs=2, retrain_epochs=1)
    b = train.train_dense(digits, "mlp", seed=3, epochs=2, retrain_epochs=1)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_split_is_fixed_and_stratified():
    d = demo_data.load()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_test.min() and d.x_test.max() <= 1.0
    test = np.bincount(d.y_test, minlength=10)
    every = test + np.bincount(d.y_train, minlength=10)
    assert np.all(np.abs(test - 0.25 * every) <= 1)          # stratified
    assert np.array_equal(d.y_test, demo_data.load().y_test)


@pytest.mark.parametrize("bad, needle", [
    (dict(sparsities=(1.5,)), "1.5"), (dict(methods=("magnitud",)), "'magnitud'"),
    (dict(models=("vgg",)), "'vgg'"), (dict(seeds=(-1,)), "-1"), (dict(epochs=1), "1"),
    (dict(threads=0), "0"), (dict(seeds=(1, 1)), "duplicates"),
])
def test_bad_config_names_the_value(bad, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        DemoConfig(**bad).check()


def test_full_preset_is_the_whole_grid():
    from sparse_rt.demo import METHODS, full_config

    cfg = full_config()
    assert cfg.sparsities == (0.5, 0.7, 0.8, 0.9, 0.95) and cfg.seeds == (0, 1, 2)
    assert set(cfg.methods) == set(METHODS)
    assert cfg.speed.batches == (1, 16) and cfg.speed.image_size == 224
    # 11 methods x 5 sparsities + 2:4 once, per model and seed
    assert len(cfg.grid()) == 2 * 3 * (11 * 5 + 1)


def _cli(*args, env_extra=None, timeout=120):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "sparse_rt.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_cli_registers_demo_with_its_options():
    proc = _cli("demo", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--out", "--full", "--seeds", "--sparsities", "--methods", "--epochs",
                   "--threads", "--no-speed", "--quiet"):
        assert option in proc.stdout
    top = _cli("--help")
    assert "demo" in top.stdout


def test_cli_module_does_not_import_torch():
    code = ("import sys, sparse_rt.cli; sparse_rt.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("args, needle", [
    (["--sparsities", "0.5,1.2"], "'1.2'"), (["--methods", "magnitude,nope"], "'nope'"),
    (["--seeds", "a"], "'a'"), (["--epochs", "0"], "'0'"), (["--models", "resnet"], "'resnet'"),
])
def test_cli_rejects_bad_options(args, needle):
    from sparse_rt.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["demo", *args])
    assert exc.value.code == 2
    proc = _cli("demo", *args)
    assert proc.returncode == 2 and needle in proc.stderr


def test_cli_parses_into_a_config():
    from sparse_rt.cli import build_parser
    from sparse_rt.demo.cli import config_from_args

    args = build_parser().parse_args(["demo", "--out", "x", "--full", "--seeds", "4,5",
                                      "--methods", "2:4,synflow", "--no-speed", "--threads", "1"])
    cfg = config_from_args(args)
    assert cfg.full and cfg.out == "x" and cfg.seeds == (4, 5) and cfg.speed is None
    assert cfg.methods == ("2:4", "synflow") and cfg.threads == 1
    assert cfg.sparsities == (0.5, 0.7, 0.8, 0.9, 0.95)
    quick = config_from_args(build_parser().parse_args(["demo"]))
    assert not quick.full and quick.speed is not None and quick.out == "sparse_rt_demo"


def test_busy_machine_is_reported():
    assert demo_report.busy_warning({"load_start": 0.5, "load_end": 1.0, "cpus": 2}) is None
    warning = demo_report.busy_warning({"load_start": 9.2, "load_end": 3.0, "cpus": 2})
    assert "9.2" in warning and "unreliable" in warning


def test_cli_end_to_end_quiet(tmp_path, capsys, monkeypatch):
    if not hasattr(sparse_rt, "load"):
        pytest.skip("needs sparse_rt.load (the C++ graph runtime)")
    from sparse_rt.cli import main

    monkeypatch.setenv("SPARSE_RT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--models", "mlp", "--methods", "2:4",
                 "--epochs", "4", "--seeds", "1", "--threads", "1", "--no-speed", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "at 50% sparsity: 2:4 keeps accuracy best" in printed
    assert str(out) in printed.replace("\n", "")
    with open(out / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["study"], r["method"], r["seed"]) for r in rows] == [
        ("dense", "dense", "1"), ("grid", "2:4", "1"), ("target", "l1-filter", "1")]
    assert not (out / "speed.csv").exists()
