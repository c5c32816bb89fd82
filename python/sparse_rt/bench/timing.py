"""The one timing method every sparse_rt benchmark uses.

Warm-up runs first (plans, caches, page faults), then timed runs until both a minimum count
and a minimum wall time are reached. Reported: median (the figure to quote), p90, mean, std,
the median absolute deviation (MAD), and a noise flag when the spread is large — these machines
are shared, so compare ratios measured in one run and repeat.

``time_alternating`` is the same method for several callables measured side by side (blocks
of runs taking turns), used whenever a ratio is reported.

The noise flag uses a robust spread, 1.4826·MAD / median (the MAD scaled to estimate the
standard deviation of normal data): one descheduled run inflates ``std`` but leaves the
median, the figure quoted, where it was, so it should not flag a result.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

NOISY_CV = 0.15   # robust coefficient of variation (1.4826·MAD / median) flagged as noisy


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    runs: int
    mad_ms: float = 0.0  # median absolute deviation from the median

    @property
    def spread(self) -> float:
        """Robust coefficient of variation: 1.4826·MAD / median."""
        return 1.4826 * self.mad_ms / self.median_ms if self.median_ms > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_CV

    def as_dict(self) -> dict:
        return {**asdict(self), "spread": self.spread, "noisy": self.noisy}


def time_callable(fn, *, warmup: int = 2, min_runs: int = 10, min_seconds: float = 0.5,
                  max_runs: int = 10_000, max_seconds: float = 30.0) -> Timing:
    """Time ``fn()`` (no arguments). Runs at least ``min_runs`` times and ``min_seconds``,
    at most ``max_runs`` times or ``max_seconds`` (after the minimum count)."""
    if min_runs < 1 or warmup < 0:
        raise ValueError(f"need min_runs >= 1 and warmup >= 0, got {min_runs}, {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append((t1 - t0) * 1e3)
        elapsed = t1 - start
        if len(times) >= max_runs or (len(times) >= min_runs and
                                      (elapsed >= min_seconds or elapsed >= max_seconds)):
            break
    a = np.asarray(times)
    med = float(np.median(a))
    return Timing(med, float(np.percentile(a, 90)), float(a.mean()), float(a.std()),
                  float(a.min()), len(times), float(np.median(np.abs(a - med))))


def time_alternating(fns, *, block: int = 5, warmup: int = 2, min_runs: int = 10,
                     min_seconds: float = 0.5, max_runs: int = 10_000,
                     max_seconds: float = 30.0) -> list:
    """The same method for several callables measured side by side, for their ratios.

    After each callable's warm-up, blocks of ``block`` timed runs of each callable take turns
    (the first run of every block is an untimed re-warm: the caches and thread pools belong to
    the previous callable), until every callable has ``min_runs`` timed runs and
    ``min_seconds`` of them, or ``max_runs`` / ``max_seconds`` (per callable, after the
    minimum count) are reached. On a shared machine the load drifts during a measurement;
    alternating spreads that drift over all callables instead of biasing whichever ran in
    the busy moment, so the ratio of the medians is what to quote. Returns one
    :class:`Timing` per callable.
    """
    fns = list(fns)
    if not fns:
        raise ValueError("time_alternating needs at least one callable")
    if min_runs < 1 or warmup < 0 or block < 1:
        raise ValueError(f"need min_runs >= 1, warmup >= 0 and block >= 1, got {min_runs}, "
                         f"{warmup}, {block}")
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    spent = [0.0 for _ in fns]
    while True:
        for i, fn in enumerate(fns):
            fn()  # re-warm after the other callables ran
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                times[i].append(dt * 1e3)
                spent[i] += dt
        n = min(len(t) for t in times)
        if n >= max_runs or (n >= min_runs and (min(spent) >= min_seconds or
                                                max(spent) >= max_seconds)):
            break
    out = []
    for t in times:
        a = np.asarray(t)
        med = float(np.median(a))
        out.append(Timing(med, float(np.percentile(a, 90)), float(a.mean()), float(a.std()),
                          float(a.min()), len(t), float(np.median(np.abs(a - med)))))
    return out
