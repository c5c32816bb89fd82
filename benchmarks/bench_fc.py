"""Fully-connected benchmarks (issue 5, family 1): sparse_rt vs torch dense and torch CSR.

    PYTHONPATH=python python -m pytest benchmarks/bench_fc.py --benchmark-json=fc.json -p no:randomly
    python benchmarks/bench_fc.py --table fc.json       # markdown table for benchmarks/README.md
    python benchmarks/bench_fc.py --kernels             # every kernel of the lists, 1 thread
    python benchmarks/bench_fc.py --targets [rounds]    # the issue-5 FC targets, 1 and 2 threads
    python benchmarks/bench_fc.py --dense               # dense path vs torch F.linear, 1 thread
    python benchmarks/bench_fc.py --crossover           # CSR vs our dense per sparsity, 1 thread
    python benchmarks/bench_fc.py --per-nnz [rounds [threads...]]  # CSR ns/nnz, GB/s vs sparsity

Cases come from cases_fc.py (shared with tests/python/kernels/test_fc.py). Threads:
SPARSE_RT_BENCH_THREADS (default 2) for both sparse_rt and torch. The three contenders of a case
are timed round-robin in the same run (medians of repeats, each repeat long enough to average
out timer noise), so the ratios in ``extra_info`` compare like with like even on a busy machine;
pytest-benchmark's own statistics time sparse_rt alone. With one thread the interleaved timings
use the thread's CPU time (robust when other jobs share the machine), otherwise wall time.

extra_info: ms (sparse_rt median), torch_dense_ms, torch_csr_ms (int32 crow/col indices,
torch.mv for N=1, torch.mm otherwise), x_torch_dense, x_torch_csr (speedups, > 1 is faster),
gflops_useful (2·nnz·N / t), gflops_dense_equiv (2·M·K·N / t), isa, threads, kernel.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pathlib
import sys
import time
import warnings

import numpy as np

_HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("cases_fc", _HERE / "cases_fc.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

THREADS = int(os.environ.get("SPARSE_RT_BENCH_THREADS", "2"))
REPEATS = int(os.environ.get("SPARSE_RT_BENCH_REPEATS", "7"))
MIN_REPEAT_S = 0.01  # each timed repeat runs the call enough times to last this long


def _calibrate(fn) -> int:
    fn()
    t = time.perf_counter()
    fn()
    dt = max(time.perf_counter() - t, 1e-7)
    return max(1, int(MIN_REPEAT_S / dt))


def _clock():
    # One thread: the calling thread's CPU time, immune to other jobs taking the core away.
    # More threads: wall time (what a user sees).
    return time.thread_time if THREADS == 1 else time.perf_counter


def interleaved_medians(fns: dict, repeats: int = REPEATS, clock=None) -> dict:
    """Median seconds per call of each function, timed round-robin (``clock``: default
    ``_clock()``; ``time.thread_time`` for one-thread CPU time)."""
    clock = clock or _clock()
    inner = {k: _calibrate(f) for k, f in fns.items()}
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = clock()
            for _ in range(inner[k]):
                f()
            times[k].append((clock() - t) / inner[k])
    return {k: float(np.median(v)) for k, v in times.items()}


def interleaved_fastest(fns: dict, repeats: int = REPEATS) -> dict:
    """Wall seconds of the fastest single call of each function, timed round-robin: with
    several threads on a shared machine a call whose thread was descheduled waits at the join,
    so slower calls measure the machine's load rather than the code."""
    inner = {k: _calibrate(f) for k, f in fns.items()}
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            for _ in range(inner[k]):
                t = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t)
    return best


@functools.lru_cache(maxsize=4)
def _weight(shape, sparsity, block):
    return cases.make_weight(shape, sparsity, block, seed=1)


@functools.lru_cache(maxsize=2)
def _torch_weights(shape, sparsity, block):
    import torch

    w = torch.from_numpy(_weight(shape, sparsity, block))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = w.to_sparse_csr()
        csr = torch.sparse_csr_tensor(c.crow_indices().to(torch.int32),
                                      c.col_indices().to(torch.int32), c.values(), c.shape)
    return w, csr


def run_case(case, benchmark=None) -> dict:
    import torch
    import torch.nn.functional as F

    import sparse_rt
    from sparse_rt.ops import Linear

    sparse_rt.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    shape, n, s, fmt, block = case["shape"], case["n"], case["sparsity"], case["format"], case["block"]
    w = _weight(shape, s, block)
    wt, wcsr = _torch_weights(shape, s, block)
    layer = Linear(w, format=fmt, block=block)
    x = np.random.default_rng(2).standard_normal((n, shape[1])).astype(np.float32)
    xt = torch.from_numpy(x)
    if n == 1:
        x1 = xt[0]
        torch_csr = lambda: torch.mv(wcsr, x1)  # noqa: E731
    else:
        xtt = xt.t()
        torch_csr = lambda: torch.mm(wcsr, xtt)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        med = interleaved_medians({
            "ours": lambda: layer(x),
            "dense": lambda: F.linear(xt, wt),
            "csr": torch_csr,
        })
    nnz = int(np.count_nonzero(w))
    info = dict(
        shape=list(shape), n=n, sparsity=s, format=fmt, block=list(block) if block else None,
        ms=med["ours"] * 1e3, torch_dense_ms=med["dense"] * 1e3, torch_csr_ms=med["csr"] * 1e3,
        x_torch_dense=med["dense"] / med["ours"], x_torch_csr=med["csr"] / med["ours"],
        gflops_useful=2 * nnz * n / med["ours"] / 1e9,
        gflops_dense_equiv=2 * shape[0] * shape[1] * n / med["ours"] / 1e9,
        isa=sparse_rt.get_isa(), threads=THREADS, kernel=layer.kernel_for(n),
        clock="thread CPU time" if THREADS == 1 else "wall",
    )
    if benchmark is not None:
        benchmark.extra_info.update(info)
        inner = _calibrate(lambda: layer(x))
        benchmark.pedantic(layer, args=(x,), rounds=REPEATS, iterations=inner, warmup_rounds=1)
    return info


# --- pytest-benchmark ----------------------------------------------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - script mode without pytest
    pytest = None

if pytest is not None:
    _CASES = cases.bench_cases()

    @pytest.mark.parametrize("case", _CASES, ids=[c["id"] for c in _CASES])
    def test_fc(benchmark, case):
        pytest.importorskip("torch")
        run_case(case, benchmark)


# --- script mode ---------------------------------------------------------------------------
def _table(path: str) -> str:
    data = json.loads(pathlib.Path(path).read_text())
    rows = [b["extra_info"] for b in data["benchmarks"] if "x_torch_dense" in b["extra_info"]]
    out = ["| W (M×K) | format | N | s | ms | × torch dense | × torch CSR | useful GF/s | dense-eq GF/s | kernel |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = r["format"] if not r["block"] else f"bsr {r['block'][0]}×{r['block'][1]}"
        out.append(f"| {r['shape'][0]}×{r['shape'][1]} | {fmt} | {r['n']} | {r['sparsity']} | "
                   f"{r['ms']:.3f} | {r['x_torch_dense']:.2f} | {r['x_torch_csr']:.2f} | "
                   f"{r['gflops_useful']:.1f} | {r['gflops_dense_equiv']:.1f} | `{r['kernel']}` |")
    isa = rows[0]["isa"] if rows else "?"
    thr = rows[0]["threads"] if rows else "?"
    clock = rows[0].get("clock", "wall") if rows else "?"
    return (f"ISA {isa}, {thr} thread(s), {clock}, medians of interleaved repeats.\n\n"
            + "\n".join(out))


def _kernels() -> str:
    import sparse_rt
    from sparse_rt import _core

    shape, s = (4096, 4096), 0.9
    out = ["| kernel | N | ms (1 thread, CPU time) | useful GF/s |", "|---|---|---|---|"]
    for k in _core.fc_kernels():
        if not k["usable"]:
            continue
        block = tuple(k["block"]) if k["family"] == "bsrmm" else None
        w = cases.make_weight(shape, s, block, seed=1)
        mat = sparse_rt.BSR.from_dense(w, block) if block else sparse_rt.CSR.from_dense(w)
        mv = k["family"] == "csrmv" or (k["family"] == "bsrmm" and k["nr"] == 1)
        n = 1 if mv else 64
        x = np.random.default_rng(0).standard_normal((shape[1], n)).astype(np.float32)
        _, secs = _core.fc_kernel_run(k["name"], mat.data, mat.indices, mat.indptr, *shape, x,
                                      np.zeros(0, np.float32), -np.inf, np.inf, 5)
        nnz = np.count_nonzero(w)
        out.append(f"| `{k['name']}` | {n} | {secs * 1e3:.3f} | {2 * nnz * n / secs / 1e9:.1f} |")
    return "W 4096×4096, s = 0.9 (BSR kernels: block sparsity 0.9).\n\n" + "\n".join(out)


def _targets(rounds: int = 3) -> str:
    """The issue-5 FC targets on W 4096x4096, measured `rounds` times (each round interleaves
    sparse_rt, torch dense and torch CSR); reports the median ratio over rounds. With 1 thread
    the times are thread CPU times (robust to other jobs on the machine), with 2 threads wall
    times (what a user sees; sensitive to other jobs)."""
    import torch
    import torch.nn.functional as F

    import sparse_rt
    from sparse_rt.ops import Linear

    def timer(threads):
        clock = time.thread_time if threads == 1 else time.perf_counter
        return lambda fns, repeats=REPEATS: interleaved_medians(fns, repeats, clock)

    shape = (4096, 4096)
    rows = ["| target | threads | measured (median of rounds) | goal | met |", "|---|---|---|---|---|"]
    per_nnz = {}
    for threads in (1, 2):
        sparse_rt.set_num_threads(threads)
        torch.set_num_threads(threads)
        med = timer(threads)
        checks = [("csr", None, 1, "csr", 1.3), ("csr", None, 16, "csr", 1.3),
                  ("csr", None, 64, "dense", 6.0), ("bsr", (4, 4), 16, "dense", 7.0),
                  ("bsr", (4, 4), 64, "dense", 7.0)]
        for fmt, block, n, vs, goal in checks:
            w = _weight(shape, 0.9, block)
            wt, wcsr = _torch_weights(shape, 0.9, block)
            layer = Linear(w, format=fmt, block=block)
            x = np.random.default_rng(2).standard_normal((n, shape[1])).astype(np.float32)
            xt = torch.from_numpy(x)
            x1, xtt = xt[0], xt.t()
            other = (lambda: F.linear(xt, wt)) if vs == "dense" else (
                (lambda: torch.mv(wcsr, x1)) if n == 1 else (lambda: torch.mm(wcsr, xtt)))
            ratios, ours = [], []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(rounds):
                    m = med({"ours": lambda: layer(x), "other": other})
                    ratios.append(m["other"] / m["ours"])
                    ours.append(m["ours"])
            r = float(np.median(ratios))
            name = f"{'CSR' if fmt == 'csr' else 'BSR 4×4'} s=0.9 N={n} vs torch {vs}"
            rows.append(f"| {name} | {threads} | {r:.2f}× ({np.median(ours) * 1e3:.3f} ms) | ≥ {goal}× | {'yes' if r >= goal else 'NO'} |")
        for n in (1, 16, 64):
            x = np.random.default_rng(2).standard_normal((n, shape[1])).astype(np.float32)
            t = []
            for s in (0.5, 0.7, 0.8, 0.9, 0.95):
                w = _weight(shape, s, None)
                layer = Linear(w, format="csr")
                t.append(med({"ours": lambda: layer(x)})["ours"] / np.count_nonzero(w))
            spread = max(t) / min(t)
            per_nnz[(threads, n)] = spread
            rows.append(f"| CSR time ∝ nnz, s 0.5→0.95, N={n} (max/min time per nnz) | {threads} | {spread:.2f} | ≤ 1.15 | {'yes' if spread <= 1.15 else 'NO'} |")
    # 1 -> 2 threads at batch 16 (wall time for both)
    for fmt, block in (("csr", None), ("bsr", (4, 4))):
        w = _weight(shape, 0.9, block)
        layer = Linear(w, format=fmt, block=block)
        x = np.random.default_rng(2).standard_normal((16, shape[1])).astype(np.float32)
        sp = []
        for _ in range(rounds):
            sparse_rt.set_num_threads(1)
            t1 = timer(2)({"o": lambda: layer(x)})["o"]
            sparse_rt.set_num_threads(2)
            t2 = timer(2)({"o": lambda: layer(x)})["o"]
            sp.append(t1 / t2)
        r = float(np.median(sp))
        rows.append(f"| {fmt.upper()}{'' if not block else ' 4×4'} s=0.9 N=16, 1 → 2 threads (wall) | 1→2 | {r:.2f}× | ≥ 1.8× | {'yes' if r >= 1.8 else 'NO'} |")
    return f"ISA {sparse_rt.get_isa()}, W 4096×4096, {rounds} rounds.\n\n" + "\n".join(rows)


def _dense(rounds: int = 30) -> str:
    """sparse_rt's dense path vs torch F.linear, one thread, thread CPU time (median of
    `rounds` repeats, the two sides alternating): the rows of docs/kernels-fc.md's dense-path
    table."""
    import torch
    import torch.nn.functional as F

    import sparse_rt
    from sparse_rt.ops import Linear

    sparse_rt.set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = ["| W | N | sparse_rt dense ms | torch ms | × torch | kernel |", "|---|---|---|---|---|---|"]
    for m, k in ((4096, 4096), (1000, 2048), (300, 784)):
        w = rng.standard_normal((m, k)).astype(np.float32)
        layer, wt = Linear(w, format="dense"), torch.from_numpy(w)
        for n in (1, 16, 64):
            x = rng.standard_normal((n, k)).astype(np.float32)
            xt = torch.from_numpy(x)
            med = interleaved_medians({"ours": lambda: layer(x), "torch": lambda: F.linear(xt, wt)},
                                      rounds, time.thread_time)
            ours, theirs = med["ours"], med["torch"]
            rows.append(f"| {m}×{k} | {n} | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | "
                        f"{theirs / ours:.2f} | {layer.kernel_for(n)} |")
    return "\n".join(rows)


def _crossover(rounds: int = 15) -> str:
    """CSR vs sparse_rt's own dense path per sparsity, one thread, thread CPU time (median of
    `rounds` repeats): the table behind ``AUTO_CSR_MAX_DENSITY``."""
    import sparse_rt
    from sparse_rt.ops import Linear

    sparse_rt.set_num_threads(1)
    rng = np.random.default_rng(0)
    grid = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

    def secs(f):
        return interleaved_medians({"f": f}, rounds, time.thread_time)["f"]

    rows = ["| W | N | ours dense ms | " + " | ".join(f"s = {s}" for s in grid) + " |",
            "|---|---|---|" + "---|" * len(grid)]
    for m, k in ((4096, 4096), (1000, 2048), (300, 784)):
        w0 = rng.standard_normal((m, k)).astype(np.float32)
        dense = Linear(w0, format="dense")
        for n in (1, 16, 64):
            x = rng.standard_normal((n, k)).astype(np.float32)
            td = secs(lambda: dense(x))
            cells = []
            for s in grid:
                w = w0.copy()
                w[rng.random(w.shape) < s] = 0.0
                csr = Linear(w, format="csr")
                cells.append(f"{td / secs(lambda: csr(x)):.2f}")
            rows.append(f"| {m}×{k} | {n} | {td * 1e3:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


PER_NNZ_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)


def _per_nnz(rounds: int = 3, batches=(1, 16, 64), threads_list=(1, 2)) -> str:
    """CSR W 4096x4096: time per non-zero and weight-stream bandwidth per sparsity, for each
    batch N and thread count. The sparsities of one (N, threads) are timed round-robin in one
    process, `rounds` times; each cell is the median over rounds. 1 thread: median thread CPU
    time of the interleaved repeats; 2 threads: the fastest call's wall time
    (interleaved_fastest). GB/s counts the bytes of the packed weight
    stream a call must read (4 B value + 2 B index per non-zero, 4 B per row: every batch size
    reads the same 16-bit-index stream when K <= 65536), not x, y or the transposed batch."""
    import sparse_rt
    from sparse_rt.ops import Linear

    shape = (4096, 4096)
    layers = {s: Linear(_weight(shape, s, None), format="csr") for s in PER_NNZ_SPARSITIES}
    nnz = {s: int(np.count_nonzero(_weight(shape, s, None))) for s in PER_NNZ_SPARSITIES}
    head = " | ".join(f"s={s}" for s in PER_NNZ_SPARSITIES)
    out = [f"| N | threads | {head} | max/min |",
           "|---|---|" + "---|" * len(PER_NNZ_SPARSITIES) + "---|"]
    global THREADS
    for threads in threads_list:
        sparse_rt.set_num_threads(threads)
        saved, THREADS = THREADS, threads
        try:
            for n in batches:
                x = np.random.default_rng(2).standard_normal((n, shape[1])).astype(np.float32)
                timing = interleaved_medians if threads == 1 else interleaved_fastest
                runs = [timing({s: (lambda l=layers[s]: l(x)) for s in layers})
                        for _ in range(rounds)]
                cells, per = [], []
                for s in PER_NNZ_SPARSITIES:
                    t = float(np.median([r[s] for r in runs]))
                    bytes_ = nnz[s] * (6 if shape[1] <= 65536 else 8) + 4 * (shape[0] + 1)
                    per.append(t / nnz[s])
                    cells.append(f"{t / nnz[s] * 1e9:.3f} ns, {bytes_ / t / 1e9:.1f} GB/s")
                out.append(f"| {n} | {threads} | " + " | ".join(cells) +
                           f" | {max(per) / min(per):.2f} |")
        finally:
            THREADS = saved
    kern = ", ".join(sorted({layers[0.9].kernel_for(n) for n in batches}))
    return (f"ISA {sparse_rt.get_isa()}, CSR W 4096×4096, kernels {kern}; ns per non-zero and "
            f"weight-stream GB/s; 1 thread: median thread CPU time of {REPEATS} interleaved "
            f"repeats, 2 threads: fastest call (wall); median of {rounds} rounds.\n\n" + "\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--table":
        print(_table(sys.argv[2]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "--kernels":
        print(_kernels())
    elif len(sys.argv) >= 2 and sys.argv[1] == "--dense":
        print(_dense())
    elif len(sys.argv) >= 2 and sys.argv[1] == "--crossover":
        print(_crossover())
    elif len(sys.argv) >= 2 and sys.argv[1] == "--per-nnz":
        print(_per_nnz(int(sys.argv[2]) if len(sys.argv) >= 3 else 3,
                       threads_list=tuple(int(t) for t in sys.argv[3:]) or (1, 2)))
    elif len(sys.argv) >= 2 and sys.argv[1] == "--targets":
        print(_targets(int(sys.argv[2]) if len(sys.argv) >= 3 else 3))
    else:
        print(__doc__)
