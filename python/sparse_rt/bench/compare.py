"""``sparse-rt compare``: one reference model, a grid of sparsities x patterns, measured in one
process, written as results.json, results.csv, PNG plots and report.md (see report.py)."""

from __future__ import annotations

from .model_bench import (
    BenchOptions,
    bench_reference,
    check_sparsity,
    environment,
    fixed_threads,
    parse_pattern,
)

DEFAULT_SPARSITIES = (0.5, 0.7, 0.9)
FULL_SPARSITIES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97)
DEFAULT_PATTERNS = ("unstructured", "block:4x4", "2:4", "channel")
FULL_PATTERNS = ("unstructured", "block:4x4", "block:8x1", "2:4", "channel")
SCHEMA = "sparse_rt.compare/1"


def grid(sparsities, patterns) -> list:
    """(pattern, sparsity) points: N:M patterns once, at their fixed sparsity."""
    if not sparsities:
        raise ValueError("the sparsity grid is empty")
    if not patterns:
        raise ValueError("the pattern list is empty")
    ss = sorted({check_sparsity(s) for s in sparsities})
    points = []
    for text in patterns:
        p = parse_pattern(text)
        if p.kind == "n:m":
            points.append((p, p.fixed_sparsity))
        else:
            points.extend((p, s) for s in ss if s > 0)
    return points


def _bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="point", leave=False)


def run_compare(model: str, sparsities, patterns, opts: BenchOptions | None = None, *,
                out_dir: str | None = None, per_layer: bool = True, progress: bool = True) -> dict:
    """Measure every (pattern, sparsity) point and the dense model; write the outputs to
    ``out_dir`` when given. Per-layer timing is done for the dense model and for each pattern's
    highest sparsity. Returns the sweep dict (what results.json holds) with ``files`` and
    ``summary_text`` added."""
    from . import report

    opts = opts or BenchOptions()
    points = grid(sparsities, patterns)
    top = {}
    for p, s in points:
        top[p.label] = max(top.get(p.label, 0.0), s)
    dense_cache = {}
    results = []
    bar = _bar(len(points) + 1, f"compare {model}", progress)
    with fixed_threads(opts.threads) as threads:
        base = BenchOptions(**{**opts.__dict__, "threads": threads})
        dense_opts = BenchOptions(**{**base.__dict__, "per_layer": per_layer})
        if bar:
            bar.set_postfix_str("dense")
        dense = bench_reference(model, "unstructured", 0.0, dense_opts, dense_cache=dense_cache)
        dense["pruning"]["pattern"] = "dense"
        results.append(dense)
        if bar:
            bar.update(1)
        for p, s in points:
            if bar:
                bar.set_postfix_str(f"{p.label} {s:.0%}")
            # ONNX Runtime gains nothing from zeros: timed for the dense model and for the
            # (smaller) channel-pruned ones only
            o = BenchOptions(**{**base.__dict__,
                                "per_layer": per_layer and s == top[p.label],
                                "onnx": base.onnx and p.kind == "channel"})
            results.append(bench_reference(model, p, s, o, dense_cache=dense_cache))
            if bar:
                bar.update(1)
        env = environment(threads)
    if bar:
        bar.close()
    sweep = {"schema": SCHEMA, "model": model, "batch": opts.batch, "threads": threads,
             "input_shape": results[0]["input_shape"], "patterns": [p for p in patterns],
             "sparsities": sorted(set(sparsities)), "match": opts.match, "scope": opts.scope,
             "environment": env, "results": results}
    sweep["analysis"] = report.analyse(sweep)
    sweep["summary_text"] = report.summary_text(sweep)
    sweep["files"] = []
    if out_dir is not None:
        sweep["files"] = report.write_all(sweep, out_dir, progress=progress)
    return sweep


__all__ = ["run_compare", "grid", "DEFAULT_SPARSITIES", "FULL_SPARSITIES", "DEFAULT_PATTERNS",
           "FULL_PATTERNS"]
