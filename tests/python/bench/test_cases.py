"""The benchmark case list is shared with the tests: the tiny variants run through the same
code as benchmarks/bench_models.py, and the full list covers the issue-9 grid."""

from __future__ import annotations

import pytest

from benchmarks.cases_models import CASES, HEADLINE, TARGETS_MS, TINY_CASES
from sparse_rt.bench.model_bench import REFERENCE_MODELS, bench_reference, parse_pattern


def test_full_grid_covers_the_issue():
    models = {c.model for c in CASES}
    assert models == {"resnet18", "resnet50", "mobilenet_v1", "mobilenet_v2"}
    assert {c.batch for c in CASES} == {1, 16} and {c.input_size for c in CASES} == {224}
    assert {c.sparsity for c in CASES} == {0.0, 0.7, 0.9, 0.95}
    assert {c.pattern for c in CASES if c.sparsity} == {"unstructured", "block:4x4", "channel"}
    assert len({c.id for c in CASES}) == len(CASES)             # ids are unique
    assert all(c.model in REFERENCE_MODELS for c in CASES)
    assert all(parse_pattern(c.pattern) for c in CASES)
    assert {(c.model, c.batch) for c in HEADLINE} >= {k for k in TARGETS_MS if k[1] == 1}


# one dense and one pruned per pattern keeps this under a few seconds
_PICK = [c for c in TINY_CASES if c.model == "resnet18"] + \
        [c for c in TINY_CASES if c.model == "mobilenet_v2" and c.pattern == "block:4x4"
         and c.sparsity > 0]


@pytest.mark.parametrize("case", _PICK, ids=lambda c: c.id)
def test_tiny_case_runs(fast_opts, case):
    r = bench_reference(case.model, case.pattern, case.sparsity,
                        fast_opts(batch=case.batch, input_size=case.input_size,
                                  model_kwargs=dict(case.model_kwargs), verify=False))
    assert r["input_shape"] == [case.batch, 3, case.input_size, case.input_size]
    assert r["sparse_rt"]["median_ms"] > 0 and r["speedup"]["vs_torch"] > 0
    fl = r["flops"]
    if case.sparsity == 0:
        assert fl["theoretical_speedup"] == pytest.approx(1.0) and fl["weight_sparsity"] == 0
    elif case.pattern == "channel":
        assert fl["weight_sparsity"] == 0 and fl["theoretical_speedup"] > 2
    else:
        # pruned layers at 90%, first conv and classifier dense
        assert 0.6 < fl["weight_sparsity"] < 0.9 and fl["theoretical_speedup"] > 2
