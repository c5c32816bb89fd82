"""The one timing method every sparse_rt benchmark uses.

Warm-up runs first (plans, caches, page faults), then timed runs until both a minimum count
and a minimum wall time are reached. Reported: median (the figure to quote), p90, mean, std,
the median absolute deviation (MAD), and a noise flag when the spread is large — these machines
are shared, so compare ratios measured in one run and repeat.

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
