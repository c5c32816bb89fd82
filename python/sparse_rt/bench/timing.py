"""The one timing method every sparse_rt benchmark uses.

Warm-up runs first (plans, caches, page faults), then timed runs until both a minimum count
and a minimum wall time are reached. Reported: median (the figure to quote), p90, mean, std,
and a noise flag when the spread is large — these machines are shared, so compare ratios
measured in one run and repeat.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

NOISY_CV = 0.15   # coefficient of variation (std / median) above which a result is flagged


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    runs: int

    @property
    def noisy(self) -> bool:
        return self.median_ms > 0 and self.std_ms / self.median_ms > NOISY_CV

    def as_dict(self) -> dict:
        return {**asdict(self), "noisy": self.noisy}


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
    return Timing(float(np.median(a)), float(np.percentile(a, 90)), float(a.mean()),
                  float(a.std()), float(a.min()), len(times))
