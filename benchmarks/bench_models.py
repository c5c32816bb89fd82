"""Whole-model benchmarks (pytest-benchmark) over benchmarks/cases_models.py.

    python -m pytest benchmarks/bench_models.py --benchmark-only                 # every case
    python -m pytest benchmarks/bench_models.py --benchmark-only -k "b1 and (dense or s0.9)"
    python -m pytest benchmarks/bench_models.py --benchmark-only --benchmark-json=out.json

Each case runs ``sparse_rt.bench.model_bench.bench_reference`` (the code behind
``sparse-rt bench``: prune, export, time sparse_rt, the dense model and torch eager in one
process with the timing method), then pytest-benchmark times the same loaded model again for
its own statistics. ``extra_info`` holds the latency (our median), useful and dense-equivalent
GFLOP/s, the torch ratio, the speedups, ISA and threads. Threads: SPARSE_RT_NUM_THREADS
(default: physical cores). SPARSE_RT_BENCH_TINY=1 runs the tiny test variants instead (a
smoke run of the suite in seconds).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from benchmarks.cases_models import CASES, DENSE_VS_TORCH_MAX, TARGETS_MS, TINY_CASES

pytest.importorskip("torch")
pytest.importorskip("pytest_benchmark")

import sparse_rt  # noqa: E402
from sparse_rt.bench.model_bench import (  # noqa: E402
    BenchOptions,
    TimingOptions,
    bench_reference,
    load_runtime,
)

if not hasattr(sparse_rt, "load"):
    pytest.skip("this build has no sparse_rt.load (model runtime)", allow_module_level=True)

_DENSE: dict = {}


_SELECTED = TINY_CASES if os.environ.get("SPARSE_RT_BENCH_TINY") == "1" else CASES


@pytest.mark.parametrize("case", _SELECTED, ids=lambda c: c.id)
def test_model(benchmark, case):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.sprt")
        opts = BenchOptions(batch=case.batch, input_size=case.input_size,
                            model_kwargs=dict(case.model_kwargs), onnx=False, save=path,
                            timing=TimingOptions(warmup=3, min_runs=10,
                                                 min_seconds=0.05 if case in TINY_CASES else 1.0))
        r = bench_reference(case.model, case.pattern, case.sparsity, opts, dense_cache=_DENSE)
        model = load_runtime(path)
        x = np.random.default_rng(0).standard_normal(r["input_shape"]).astype(np.float32)
        model(x)
        benchmark.pedantic(model, args=(x,), rounds=10, warmup_rounds=2)
    s, sp, fl = r["sparse_rt"], r["speedup"], r["flops"]
    info = benchmark.extra_info
    info.update({
        "latency_ms": s["median_ms"], "p90_ms": s["p90_ms"], "noisy": s["noisy"],
        "useful_gflops_per_s": s["useful_gflops_per_s"],
        "dense_equivalent_gflops_per_s": fl["baseline_dense"] / (s["median_ms"] * 1e6),
        "torch_ms": r["baselines"]["torch_eager"]["median_ms"],
        "torch_ratio": sp["vs_torch"], "speedup_vs_sparse_rt_dense": sp["vs_sparse_rt_dense"],
        "theoretical_speedup": sp["theoretical"], "realised": sp["realised"],
        "isa": r["environment"]["sparse_rt"]["isa"], "threads": r["threads"],
        "formats": r["export"]["formats"],
    })
    full_size = case.input_size == 224 and not case.model_kwargs  # targets are for these
    target = TARGETS_MS.get((case.model, case.batch)) if full_size else None
    if target and case.pattern == "unstructured" and case.sparsity == 0.9:
        info["target_ms"] = target
        info["target_met"] = s["median_ms"] <= target
    if case.sparsity == 0:
        info["dense_vs_torch_max"] = DENSE_VS_TORCH_MAX
        info["dense_vs_torch_met"] = s["median_ms"] <= DENSE_VS_TORCH_MAX * info["torch_ms"]
    assert s["median_ms"] > 0 and np.isfinite(sp["theoretical"])
