"""The timing method: counts, ordering of the statistics, the robust noise flag."""

from __future__ import annotations

import pytest

from sparse_rt.bench.model_bench import Pattern, TimingOptions, parse_pattern
from sparse_rt.bench.timing import NOISY_CV, Timing, time_callable


def test_time_callable_counts_and_order():
    calls = []
    t = time_callable(lambda: calls.append(1), warmup=2, min_runs=5, min_seconds=0.0)
    assert t.runs == 5 and len(calls) == 7
    assert 0 <= t.min_ms <= t.median_ms <= t.p90_ms and t.mad_ms >= 0


def test_one_outlier_is_not_noise_but_a_wide_spread_is():
    steady = Timing(median_ms=1.0, p90_ms=1.0, mean_ms=10.9, std_ms=30.0, min_ms=1.0, runs=11,
                    mad_ms=0.01)
    assert not steady.noisy                      # std blown up by one run; median unaffected
    wide = Timing(1.0, 1.6, 1.1, 0.3, 0.5, 11, mad_ms=0.2)
    assert wide.spread == pytest.approx(1.4826 * 0.2) and wide.spread > NOISY_CV and wide.noisy
    assert wide.as_dict()["noisy"] is True and "spread" in wide.as_dict()


def test_bad_timing_options():
    with pytest.raises(ValueError, match="min_runs=0"):
        TimingOptions(min_runs=0)
    with pytest.raises(ValueError):
        time_callable(lambda: None, min_runs=0)


@pytest.mark.parametrize("text, label", [
    ("unstructured", "unstructured"), ("block:4x4", "block:4x4"), ("8x1", "block:8x1"),
    ("2:4", "2:4"), ("Channel", "channel")])
def test_parse_pattern(text, label):
    p = parse_pattern(text)
    assert isinstance(p, Pattern) and p.label == label


def test_nm_fixes_sparsity():
    assert parse_pattern("2:4").fixed_sparsity == 0.5
    assert parse_pattern("1:4").fixed_sparsity == 0.75
    assert parse_pattern("unstructured").fixed_sparsity is None


def test_time_alternating_takes_turns_in_blocks():
    from sparse_rt.bench.timing import time_alternating

    log = []
    ta, tb = time_alternating([lambda: log.append("a"), lambda: log.append("b")], block=3,
                              warmup=1, min_runs=6, min_seconds=0.0)
    assert ta.runs == tb.runs == 6
    # warm-up a, warm-up b, then per round: one re-warm + 3 timed runs of each, in turn
    assert "".join(log) == "ab" + "aaaabbbb" * 2
    with pytest.raises(ValueError, match="block"):
        time_alternating([lambda: None], block=0)
