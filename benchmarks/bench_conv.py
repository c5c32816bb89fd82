"""Convolution benchmarks: sparse_rt's Conv2d vs torch.nn.functional.conv2d, same run.

    PYTHONPATH=python python -m pytest benchmarks/bench_conv.py --benchmark-only   # pytest-benchmark
    PYTHONPATH=python python benchmarks/bench_conv.py --table [--batch 1] [--threads 2]

Cases come from benchmarks/cases_conv.py (shared with tests/python/kernels/test_conv.py).
Each case records useful GFLOP/s (non-zero multiply-adds only) and dense-equivalent GFLOP/s,
the ISA path, the thread count and torch's time measured in the same process as a ratio.
``--table`` prints the markdown table kept in benchmarks/README.md (medians of repeats taken in
alternating blocks: 5 x ours, 5 x torch, ...; with ``--stat min`` the fastest repeat instead,
which is steadier on a shared, loaded machine). ``--cold`` evicts the caches before every
timed call, so weights and input come from DRAM as they do inside a model.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import time

import numpy as np
import pytest
import torch

import sparse_rt
from sparse_rt.ops import Conv2d

_spec = importlib.util.spec_from_file_location(
    "cases_conv", pathlib.Path(__file__).resolve().parent / "cases_conv.py")
cases_conv = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("cases_conv", cases_conv)
_spec.loader.exec_module(cases_conv)

THREADS = int(os.environ.get("SPARSE_RT_BENCH_THREADS", "2"))


def make(shape, batch: int, sparsity: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((shape.out_channels, shape.in_channels // shape.groups,
                             shape.kernel, shape.kernel)).astype(np.float32)
    if sparsity > 0:
        w[rng.random(w.shape) < sparsity] = 0.0
    x = rng.standard_normal((batch, shape.in_channels, shape.size, shape.size)).astype(np.float32)
    layer = Conv2d(w, stride=shape.stride, padding=shape.padding, groups=shape.groups,
                   format=cases_conv.format_for(shape, sparsity))
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)

    def ours():
        return layer(x)

    def theirs():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, stride=shape.stride, padding=shape.padding,
                                              groups=shape.groups)

    return layer, ours, theirs, float(np.count_nonzero(w)) / w.size


def interleaved(fns, budget_s: float = 1.0, min_reps: int = 10, max_reps: int = 300,
                stat=np.median, block: int = 5, before=None):
    """`stat` (default the median) of each fn's seconds, in alternating blocks of `block` runs.
    ``before`` (untimed) runs ahead of every timed call: see `evict_caches`.

    Blocks rather than strict alternation: torch ships its own OpenMP runtime, whose idle
    threads spin for a while after each call and steal the cores from ours (and vice versa);
    with 2 cores, strictly alternating calls measured each side's wake-up contention instead of
    its speed. The first run of each block is dropped.
    """
    for f in fns:
        f()
        f()
    times = [[] for _ in fns]
    start = time.perf_counter()
    max_reps = max(max_reps, int(budget_s * 200))
    while len(times[0]) < max_reps and (len(times[0]) < min_reps
                                        or time.perf_counter() - start < budget_s):
        for i, f in enumerate(fns):
            f()
            for _ in range(block):
                if before is not None:
                    before()
                t0 = time.perf_counter()
                f()
                times[i].append(time.perf_counter() - t0)
    return [float(stat(t)) for t in times]


_EVICT = None


def evict_caches() -> None:
    """Write 64 MiB (twice the L3) so that the next call finds its weights and input in DRAM,
    as a layer inside a model does (every other layer's data ran through the caches since)."""
    global _EVICT
    if _EVICT is None:
        _EVICT = np.zeros(16 << 20, np.float32)
    _EVICT += 1.0


def set_threads(n: int) -> None:
    sparse_rt.set_num_threads(n)
    torch.set_num_threads(n)


CASES = [
    pytest.param(shape, batch, sp, id=f"{shape.name}-b{batch}-s{sp}")
    for shape in cases_conv.SHAPES
    for batch in cases_conv.BATCHES
    for sp in cases_conv.SPARSITIES
    if not (shape.depthwise and sp > 0)
]


def kernel_used(layer, shape) -> str:
    """The kernel that runs this shape (a shifted-taps layout may take a wider tile than the
    layer's default ``.kernel``)."""
    lay = layer.layout(shape.size, shape.size)
    return lay["kernel"] if lay else layer.kernel


@pytest.mark.parametrize("shape,batch,sparsity", CASES)
def test_conv(benchmark, shape, batch, sparsity):
    set_threads(THREADS)
    layer, ours, theirs, density = make(shape, batch, sparsity)
    t_torch = interleaved([theirs], budget_s=0.3)[0]
    benchmark.pedantic(ours, rounds=10 if batch == 1 else 3, iterations=1, warmup_rounds=1)
    t = benchmark.stats.stats.median
    flops = 2.0 * shape.macs(batch)
    benchmark.extra_info.update(
        kernel=kernel_used(layer, shape), isa=sparse_rt.get_isa(), threads=THREADS, density=density,
        useful_gflops=flops * density / t / 1e9, dense_equiv_gflops=flops / t / 1e9,
        torch_ms=t_torch * 1e3, speedup_vs_torch=t_torch / t,
    )


@pytest.mark.parametrize("shape", [s for s in cases_conv.RESNET if s.kernel == 3][:2],
                         ids=lambda s: s.name)
def test_thread_scaling_batch16(benchmark, shape):
    _, ours, _, _ = make(shape, 16, 0.9)
    set_threads(1)
    t1 = interleaved([ours], budget_s=0.5)[0]
    set_threads(2)
    benchmark.pedantic(ours, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(t1_ms=t1 * 1e3, scaling=t1 / benchmark.stats.stats.median)


def table(batches, threads: int, sparsities, shapes, stat=np.median, budget: float = 1.5,
          cold: bool = False) -> None:
    set_threads(threads)
    print(f"threads={threads} isa={sparse_rt.get_isa()} torch={torch.__version__} "
          f"stat={stat.__name__}" + (" caches=cold (evicted before every call)" if cold else ""))
    print("| layer | batch | s | kernel | torch ms | ours ms | × torch | useful GFLOP/s "
          "| dense-eq GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for batch in batches:
            for sp in sparsities:
                if shape.depthwise and sp > 0:
                    continue
                layer, ours, theirs, density = make(shape, batch, sp)
                t, tt = interleaved([ours, theirs], budget_s=budget * (1 if batch == 1 else 2),
                                    stat=stat, before=evict_caches if cold else None)
                flops = 2.0 * shape.macs(batch)
                print(f"| {shape.name} | {batch} | {sp} | {kernel_used(layer, shape)} | {tt * 1e3:.3f} | "
                      f"{t * 1e3:.3f} | {tt / t:.2f} | {flops * density / t / 1e9:.0f} | "
                      f"{flops / t / 1e9:.0f} |", flush=True)


def scaling(shapes, sparsity: float = 0.9, batch: int = 16, stat=np.median,
            budget: float = 2.0) -> None:
    print("| layer | batch | s | 1 thread ms | 2 threads ms | scaling |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        _, ours, _, _ = make(shape, batch, sparsity)
        set_threads(1)
        t1 = interleaved([ours], budget_s=budget, stat=stat)[0]
        set_threads(2)
        t2 = interleaved([ours], budget_s=budget, stat=stat)[0]
        print(f"| {shape.name} | {batch} | {sparsity} | {t1 * 1e3:.2f} | {t2 * 1e3:.2f} | "
              f"{t1 / t2:.2f} |", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", action="store_true", help="print the README table")
    ap.add_argument("--scaling", action="store_true", help="1 -> 2 threads at batch 16")
    ap.add_argument("--batch", type=int, nargs="*", default=list(cases_conv.BATCHES))
    ap.add_argument("--sparsity", type=float, nargs="*", default=list(cases_conv.SPARSITIES))
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--only", nargs="*", help="shape names")
    ap.add_argument("--stat", choices=("median", "min"), default="median")
    ap.add_argument("--budget", type=float, default=1.5, help="seconds per case (batch 1)")
    ap.add_argument("--cold", action="store_true",
                    help="evict the caches before every timed call (weights and input from DRAM, "
                         "as inside a model)")
    args = ap.parse_args()
    stat = np.median if args.stat == "median" else np.min
    shapes = [s for s in cases_conv.SHAPES if not args.only or s.name in args.only]
    if args.scaling:
        scaling(shapes, stat=stat, budget=args.budget)
    else:
        table(args.batch, args.threads, args.sparsity, shapes, stat=stat, budget=args.budget,
              cold=args.cold)
