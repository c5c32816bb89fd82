"""Part 1: methods x sparsities x seeds on the digits, every model run by sparse_rt.

For each model and seed: train the dense baseline, export it, score and time it in sparse_rt
and in torch eager. Then for each method and sparsity: prune a copy, retrain, export
(``sparse_rt.export``, verified against torch), load the file with ``sparse_rt.load``, compute
the accuracy from sparse_rt's logits, and time batch 1 and the whole test set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from . import data as _data
from . import measure
from .config import METHODS, DemoConfig

CHANNEL_TARGET_FRACTION = 0.5    # quality target: 50% of the channels removed

# Columns of runs.csv, in order (runs.json has the same keys plus "formats").
COLUMNS = (
    "study", "model", "method", "label", "pattern", "schedule", "retraining", "seed",
    "sparsity_requested", "sparsity_achieved", "channels_removed",
    "accuracy", "accuracy_torch", "accuracy_dense", "accuracy_drop_pp",
    "latency_b1_ms", "latency_test_ms", "throughput_test_per_s",
    "dense_latency_b1_ms", "dense_latency_test_ms",
    "torch_latency_b1_ms", "torch_latency_test_ms",
    "speedup_b1", "speedup_test", "speedup_vs_torch_b1", "speedup_vs_torch_test",
    "flop_speedup", "file_bytes", "dense_file_bytes", "noisy_timing", "seconds", "path",
)


def _slug(x) -> str:
    return str(x).replace(":", "of").replace(" ", "-")


class _Dense:
    """What every run of one (model, seed) is compared with."""

    def __init__(self, row: dict, base):
        self.row = row
        self.base = base


def _measure_file(path, digits, name, cfg, model_torch):
    """Score and time one exported file; returns the measured columns."""
    x_test = digits.inputs(name)
    rt = measure.load(path)
    logits = measure.run(rt, x_test)
    acc = _data.accuracy(logits, digits.y_test)
    acc_torch = _data.accuracy(measure.torch_logits(model_torch, x_test), digits.y_test)
    with measure.threads(cfg.threads):
        t1 = measure.time_sparse_rt(rt, x_test[:1], cfg.timing_min_seconds)
        tn = measure.time_sparse_rt(rt, x_test, cfg.timing_min_seconds)
    return {
        "accuracy": acc, "accuracy_torch": acc_torch,
        "latency_b1_ms": t1.median_ms, "latency_test_ms": tn.median_ms,
        "throughput_test_per_s": len(x_test) / (tn.median_ms / 1e3),
        "noisy_timing": bool(t1.noisy or tn.noisy),
        "file_bytes": os.path.getsize(path),
    }


def _dense(cfg: DemoConfig, digits, name: str, seed: int) -> _Dense:
    from . import train

    t0 = time.perf_counter()
    base = train.train_dense(digits, name, seed, cfg.epochs, cfg.retrain_epochs)
    x_test = digits.inputs(name)
    path = os.path.join(cfg.out, "models", f"{name}-dense-seed{seed}.sprt")
    summary = measure.export(base.model, x_test[:1], path, measure=cfg.measure_formats)
    row = _measure_file(path, digits, name, cfg, base.model)
    with measure.threads(cfg.threads):
        torch_1 = measure.time_torch(base.model, x_test[:1], cfg.timing_min_seconds)
        torch_n = measure.time_torch(base.model, x_test, cfg.timing_min_seconds)
    dense_flops, _ = measure.flops(base.model, (1,) + train.input_shape(name))
    row.update({
        "study": "dense", "model": name, "method": "dense", "label": "dense",
        "pattern": "dense", "schedule": "-", "retraining": "-", "seed": seed,
        "sparsity_requested": 0.0, "sparsity_achieved": 0.0, "channels_removed": None,
        "accuracy_dense": row["accuracy"], "accuracy_drop_pp": 0.0,
        "dense_latency_b1_ms": row["latency_b1_ms"], "dense_latency_test_ms": row["latency_test_ms"],
        "torch_latency_b1_ms": torch_1.median_ms, "torch_latency_test_ms": torch_n.median_ms,
        "flop_speedup": 1.0, "dense_file_bytes": row["file_bytes"],
        "seconds": time.perf_counter() - t0, "path": os.path.relpath(path, cfg.out),
        "formats": summary.formats(), "dense_flops": dense_flops,
        "train_seconds": base.seconds,
    })
    _speedups(row, row)
    noisy = row["noisy_timing"] or torch_1.noisy or torch_n.noisy
    row["noisy_timing"] = bool(noisy)
    return _Dense(row, base)


def _speedups(row: dict, dense: dict) -> None:
    row["speedup_b1"] = dense["latency_b1_ms"] / row["latency_b1_ms"]
    row["speedup_test"] = dense["latency_test_ms"] / row["latency_test_ms"]
    row["speedup_vs_torch_b1"] = dense["torch_latency_b1_ms"] / row["latency_b1_ms"]
    row["speedup_vs_torch_test"] = dense["torch_latency_test_ms"] / row["latency_test_ms"]


def _one(cfg: DemoConfig, digits, dense: _Dense, method: str, sparsity: float, seed: int,
         study: str = "grid", channel_fraction: float | None = None) -> dict:
    from . import methods as _methods
    from . import train

    t0 = time.perf_counter()
    name = dense.base.name
    if channel_fraction is None:
        pruned = _methods.apply(method, dense.base, sparsity, digits, seed)
    else:
        pruned = _methods.prune_channels(dense.base, channel_fraction, digits, seed, method)
    model = pruned.model
    x_test = digits.inputs(name)
    tag = f"s{sparsity:g}" if channel_fraction is None else f"c{channel_fraction:g}"
    path = os.path.join(cfg.out, "models", f"{name}-{_slug(method)}-{tag}-seed{seed}.sprt")
    summary = measure.export(model, x_test[:1], path, measure=cfg.measure_formats)
    row = _measure_file(path, digits, name, cfg, model)
    spec = METHODS[method]
    total = _methods.weight_count(dense.base.model)
    achieved = 1.0 - _methods.nonzero_count(model) / total
    _, remaining = measure.flops(model, (1,) + train.input_shape(name))
    d = dense.row
    row.update({
        "study": study, "model": name, "method": method, "label": spec.label,
        "pattern": spec.pattern, "schedule": spec.schedule, "retraining": spec.retraining,
        "seed": seed,
        "sparsity_requested": sparsity if channel_fraction is None else None,
        "sparsity_achieved": achieved, "channels_removed": pruned.channel_fraction,
        "accuracy_dense": d["accuracy"],
        "accuracy_drop_pp": 100.0 * (d["accuracy"] - row["accuracy"]),
        "dense_latency_b1_ms": d["latency_b1_ms"], "dense_latency_test_ms": d["latency_test_ms"],
        "torch_latency_b1_ms": d["torch_latency_b1_ms"],
        "torch_latency_test_ms": d["torch_latency_test_ms"],
        "flop_speedup": d["dense_flops"] / max(1, remaining),
        "dense_file_bytes": d["file_bytes"],
        "seconds": time.perf_counter() - t0, "path": os.path.relpath(path, cfg.out),
        "formats": summary.formats(),
    })
    _speedups(row, d)
    return row


def run(cfg: DemoConfig, digits=None, progress: Callable[[str], None] | None = None
        ) -> list[dict]:
    """Every run of part 1 as a list of row dicts (dense rows first for each model/seed).

    ``progress(description)`` is called once before each unit of work (see :func:`count`).
    """
    import torch

    digits = digits or _data.load()
    progress = progress or (lambda _desc: None)
    grid = cfg.grid()
    rows: list[dict] = []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)    # tiny models train fastest on one thread (no OpenMP spinning)
    try:
        for name in cfg.models:
            for seed in cfg.seeds:
                progress(f"{name} seed {seed}: dense baseline")
                dense = _dense(cfg, digits, name, seed)
                rows.append(dense.row)
                for model, method, sparsity, s in grid:
                    if model != name or s != seed:
                        continue
                    progress(f"{name} seed {seed}: {method} at {sparsity:.0%}")
                    rows.append(_one(cfg, digits, dense, method, sparsity, seed))
                if cfg.channel_target:
                    progress(f"{name} seed {seed}: 50% of channels removed (L1)")
                    rows.append(_one(cfg, digits, dense, "l1-filter", CHANNEL_TARGET_FRACTION,
                                     seed, study="target",
                                     channel_fraction=CHANNEL_TARGET_FRACTION))
    finally:
        torch.set_num_threads(threads_before)
    return rows


def count(cfg: DemoConfig) -> int:
    """How many times :func:`run` calls ``progress``."""
    per_model_seed = 1 + (1 if cfg.channel_target else 0)
    return len(cfg.grid()) + per_model_seed * len(cfg.models) * len(cfg.seeds)


def mean_std(values) -> tuple[float, float]:
    a = np.asarray([v for v in values if v is not None], dtype=float)
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0
