"""Schedules: AGP matches Zhu & Gupta's formula; amounts compose to the target sparsity."""

from __future__ import annotations

import itertools
import math

import pytest
import sparse_rt.models as models
from sparse_rt import prune


def _agp_formula(t: int, s_i: float, s_f: float, t0: int, n: int, dt: int) -> float:
    return s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3


def test_agp_values_match_the_formula():
    agp = prune.AGP(0.9, initial_sparsity=0.1, begin_step=100, num_steps=8, frequency=50)
    assert agp.steps == tuple(range(100, 501, 50))
    for t in agp.steps:
        assert agp.is_pruning_step(t)
        assert agp.sparsity(t) == pytest.approx(_agp_formula(t, 0.1, 0.9, 100, 8, 50), abs=1e-12)
    assert agp.sparsity(100) == pytest.approx(0.1)
    assert agp.sparsity(500) == pytest.approx(0.9)
    assert agp.sparsity(99) == 0.0  # before pruning starts
    assert agp.sparsity(149) == agp.sparsity(100)  # held between pruning steps
    assert agp.sparsity(10_000) == pytest.approx(0.9)
    assert not agp.is_pruning_step(125) and agp.amount(125) == 0.0
    # Sparsity rises fast first and slowly at the end (the cubic shape).
    deltas = [agp.sparsity(b) - agp.sparsity(a) for a, b in itertools.pairwise(agp.steps)]
    assert all(x > y for x, y in itertools.pairwise(deltas))


def test_agp_amounts_compose_to_its_sparsity():
    agp = prune.AGP(0.8, num_steps=5, frequency=10)
    remaining = 1.0
    for t in agp.steps:
        remaining *= 1.0 - agp.amount(t)
        assert 1.0 - remaining == pytest.approx(agp.sparsity(t), abs=1e-12)


def test_agp_drives_magnitude_pruning_to_the_target():
    model = models.digits_mlp()
    agp = prune.AGP(0.9, num_steps=4, frequency=1)
    for step in range(10):
        if agp.is_pruning_step(step):
            prune.magnitude(model, agp.amount(step))
    sparsity = float((model.fc1.weight_mask == 0).float().mean())
    assert sparsity == pytest.approx(0.9, abs=1e-3)


def test_iterative_and_one_shot():
    iterative = prune.Iterative(0.75, rounds=2)
    assert iterative.steps == (0, 1)
    assert iterative.amount(0) == pytest.approx(0.5) and iterative.amount(1) == pytest.approx(0.5)
    assert iterative.sparsity(0) == pytest.approx(0.5) and iterative.sparsity(1) == pytest.approx(
        0.75
    )
    one_shot = prune.OneShot(0.6)
    assert one_shot.steps == (0,) and one_shot.amount(0) == 0.6 and one_shot.sparsity(3) == 0.6


def test_run_alternates_pruning_and_training():
    model = models.digits_mlp()
    calls = []
    prune.run(
        model,
        prune.Iterative(1 - 0.5**3, rounds=3),
        lambda m, amount: prune.magnitude(m, amount),
        lambda m, step: calls.append((step, float((m.fc1.weight_mask == 0).float().mean()))),
    )
    assert [step for step, _ in calls] == [0, 1, 2]
    for (_, sparsity), expected in zip(calls, [0.5, 0.75, 0.875], strict=True):
        assert math.isclose(sparsity, expected, abs_tol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"final_sparsity": 1.5, "num_steps": 3}, ValueError, "1.5"),
        ({"final_sparsity": 0.5, "num_steps": 0}, ValueError, "num_steps"),
        ({"final_sparsity": 0.5, "num_steps": 3, "frequency": 0}, ValueError, "frequency"),
        ({"final_sparsity": 0.5, "num_steps": 3, "initial_sparsity": 0.7}, ValueError, "0.7"),
        ({"final_sparsity": "0.5", "num_steps": 3}, TypeError, "'0.5'"),
    ],
)
def test_agp_bad_arguments(kwargs, error, needle):
    with pytest.raises(error, match=needle):
        prune.AGP(**kwargs)
