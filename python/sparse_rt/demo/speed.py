"""Part 2: speed at realistic scale. A ResNet-50-shaped model with synthetic (randomly
initialised) weights, pruned to the same FLOPs three ways:

* unstructured: magnitude pruning of every conv except the stem (the fc stays dense too), each
  at the requested sparsity; stored as CSR;
* block 4x4: the same sparsity in 4x4 blocks; stored as BSR 4x4;
* channels: L1 filter pruning (physically removed), with the fraction of channels searched so
  that the smaller model has the same FLOPs as the unstructured one; stored dense.

Each pattern is stored in its natural format, forced per layer (CSR for unstructured layers,
BSR 4x4 for block layers, dense for the stem, the fc and the channel-pruned model) rather than
chosen by per-layer timing, so the table shows what each pattern's kernels give. Every model is timed in sparse_rt
and next to torch eager at the same thread count; the torch column for the masked models is the
dense model (torch runs masked weights as dense, so it gains nothing from them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from . import measure
from .config import DemoConfig

CHANNEL_SEARCH_STEPS = 4
SEARCH_INPUT = 64          # which channels go does not depend on the image size: trace small


def _report_flops(model, size: int) -> int:
    return measure.flops(model, (1, 3, size, size))[1]


def _channel_model(dense, target_flops_ratio: float, size: int):
    """L1 channel pruning with the amount searched (secant on the FLOP ratio at ``size``)."""
    from sparse_rt import prune

    dense_flops = measure.flops(dense, (1, 3, size, size))[0]
    shape = (1, 3, SEARCH_INPUT, SEARCH_INPUT)

    def evaluate(a):
        small = prune.channels(dense, a, example_input=shape)
        return small, _report_flops(small, size) / dense_flops

    # Most convs lose channels on both sides: FLOPs ~ (1 - a)^2.
    a = 1.0 - float(np.sqrt(target_flops_ratio))
    best = None
    prev = None
    for _ in range(CHANNEL_SEARCH_STEPS):
        small, ratio = evaluate(a)
        if best is None or abs(np.log(ratio / target_flops_ratio)) < abs(
                np.log(best[1] / target_flops_ratio)):
            best = (small, ratio, a)
        if abs(ratio / target_flops_ratio - 1.0) < 0.02:
            break
        if prev is not None and prev[1] != ratio:
            slope = (a - prev[0]) / (np.log(ratio) - np.log(prev[1]))
            nxt = a + slope * (np.log(target_flops_ratio) - np.log(ratio))
        else:  # (1 - a)^2 scaling from this point
            nxt = 1.0 - (1.0 - a) * float(np.sqrt(target_flops_ratio / ratio))
        prev = (a, ratio)
        a = float(np.clip(nxt, 0.0, 0.99))
    return best[0], best[2]


def _formats(model, pruned: set[str], fmt: str) -> dict[str, str]:
    """Per-layer storage: ``fmt`` for the pruned layers, dense for the others."""
    from torch import nn

    return {name: (fmt if name in pruned else "dense") for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))}


def run(cfg: DemoConfig, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Rows of the part-2 table: one per (pattern, sparsity, batch)."""
    import torch

    from sparse_rt import models, prune

    sc = cfg.speed
    progress = progress or (lambda _desc: None)
    size = sc.image_size
    folder = os.path.join(cfg.out, "models")
    torch.manual_seed(0)
    dense = models.resnet50()
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, size, size)).astype(np.float32) for b in sc.batches}
    dense_flops = measure.flops(dense, (1, 3, size, size))[0]

    variants = [("dense", None, dense, "dense")]
    for s in sc.sparsities:
        progress(f"ResNet-50: pruning to {s:.0%} (unstructured, block 4x4, channels)")
        unstructured = prune.magnitude(prune.copy_model(dense), s)
        block = prune.magnitude(prune.copy_model(dense), s, pattern=(4, 4))
        ratio = measure.flops(unstructured, (1, 3, size, size))[1] / dense_flops
        channels, _amount = _channel_model(dense, ratio, size)
        keep = prune.default_filter(dense)
        pruned = {n for n, m in dense.named_modules() if keep(m, n)}
        variants += [("unstructured", s, unstructured, _formats(dense, pruned, "csr")),
                     ("block 4x4", s, block, _formats(dense, pruned, "bsr")),
                     ("channels", s, channels, "dense")]

    torch_dense: dict[int, float] = {}
    rows = []
    for pattern, s, model, fmt in variants:
        progress(f"ResNet-50: export and time {pattern}" + (f" at {s:.0%}" if s else ""))
        tag = "dense" if s is None else f"{pattern.replace(' ', '')}-s{s:g}"
        path = os.path.join(folder, f"resnet50-{tag}-{size}px.sprt")
        t0 = time.perf_counter()
        summary = measure.export(model, inputs[sc.batches[0]][:1], path, measure=False,
                                 format=fmt, verify=False,
                                 block=(4, 4) if pattern == "block 4x4" else None)
        export_s = time.perf_counter() - t0
        rt = measure.load(path)
        flops_left = measure.flops(model, (1, 3, size, size))[1]
        fmt_counts: dict[str, int] = {}
        for label in summary.formats().values():
            fmt_counts[label] = fmt_counts.get(label, 0) + 1
        for b in sc.batches:
            x = inputs[b]
            got = measure.run(rt, x)
            want = measure.torch_logits(model, x)
            err = float(np.max(np.abs(got - want)) / max(1e-30, np.max(np.abs(want))))
            with measure.threads(cfg.threads):
                t_rt = measure.time_sparse_rt(rt, x, sc.min_seconds, sc.min_runs)
                if pattern in ("dense", "channels"):
                    t_torch = measure.time_torch(model, x, sc.min_seconds, sc.min_runs)
                    torch_ms = t_torch.median_ms
                    noisy = t_rt.noisy or t_torch.noisy
                else:
                    torch_ms = torch_dense[b]
                    noisy = t_rt.noisy
            if pattern == "dense":
                torch_dense[b] = torch_ms
            rows.append({
                "model": "resnet50", "pattern": pattern, "sparsity": s or 0.0,
                "image_size": size, "batch": b,
                "flop_speedup": dense_flops / max(1, flops_left),
                "sparse_rt_ms": t_rt.median_ms, "torch_ms": torch_ms,
                "torch_is_dense_model": pattern not in ("dense", "channels"),
                "noisy_timing": bool(noisy), "max_relative_error": err,
                "file_bytes": os.path.getsize(path), "formats": fmt_counts,
                "export_seconds": export_s, "path": os.path.relpath(path, cfg.out),
            })
    dense_rt = {r["batch"]: r["sparse_rt_ms"] for r in rows if r["pattern"] == "dense"}
    for r in rows:
        r["speedup_vs_dense"] = dense_rt[r["batch"]] / r["sparse_rt_ms"]
        r["speedup_vs_torch"] = torch_dense[r["batch"]] / r["sparse_rt_ms"]
    return rows


def count(cfg: DemoConfig) -> int:
    """How many times :func:`run` calls ``progress``."""
    n = len(cfg.speed.sparsities)
    return n + 1 + 3 * n
