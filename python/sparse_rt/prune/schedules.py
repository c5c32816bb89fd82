"""Pruning schedules: one-shot, iterative, and gradual (AGP).

A schedule says *when* to prune and *how much*. Each one has:

* ``steps``: the steps at which to prune (training steps for AGP, rounds otherwise);
* ``sparsity(step)``: the target sparsity once that step's pruning is done;
* ``amount(step)``: what to pass as ``amount`` to a pruning function at that step, i.e. the
  fraction of the *still unpruned* weights to remove (torch's convention), so that the
  remaining fraction after the step is ``1 - sparsity(step)``.

They only compute numbers; call them from your own loop, or use :func:`run` for the usual
"prune, then fine-tune" alternation.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sparse_rt.prune._checks import check_int

PruneFn = Callable[[nn.Module, float], object]
TrainFn = Callable[[nn.Module, int], object]


def _check_sparsity(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _increment(before: float, after: float) -> float:
    """Fraction of the remaining weights to prune to go from ``before`` to ``after`` sparsity."""
    if after <= before:
        return 0.0
    return (after - before) / (1.0 - before)


class OneShot:
    """Prune to ``sparsity`` once (step 0)."""

    def __init__(self, sparsity: float) -> None:
        self.final_sparsity = _check_sparsity("sparsity", sparsity)
        self.steps = (0,)

    def sparsity(self, step: int) -> float:
        return self.final_sparsity if step >= 0 else 0.0

    def amount(self, step: int) -> float:
        return self.final_sparsity if step == 0 else 0.0

    def __repr__(self) -> str:
        return f"OneShot({self.final_sparsity!r})"


class Iterative:
    """Reach ``sparsity`` in ``rounds`` equal prune-and-fine-tune rounds (Han et al. 2015).

    Each round removes the same fraction ``1 - (1 - sparsity) ** (1 / rounds)`` of what is
    left, so after round ``k`` (0-based) the sparsity is
    ``1 - (1 - sparsity) ** ((k + 1) / rounds)``.
    """

    def __init__(self, sparsity: float, rounds: int) -> None:
        self.final_sparsity = _check_sparsity("sparsity", sparsity)
        self.rounds = check_int("rounds", rounds, 1)
        self.steps = tuple(range(self.rounds))

    def sparsity(self, step: int) -> float:
        if step < 0:
            return 0.0
        done = min(step + 1, self.rounds)
        return 1.0 - (1.0 - self.final_sparsity) ** (done / self.rounds)

    def amount(self, step: int) -> float:
        if step not in self.steps:
            return 0.0
        return 1.0 - (1.0 - self.final_sparsity) ** (1.0 / self.rounds)

    def __repr__(self) -> str:
        return f"Iterative({self.final_sparsity!r}, rounds={self.rounds})"


class AGP:
    """Automated gradual pruning, the cubic schedule of Zhu & Gupta 2017.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3`` for
    ``t = t0, t0 + dt, ..., t0 + n * dt``: pruning starts at ``begin_step`` (t0) with
    ``initial_sparsity`` (s_i), happens every ``frequency`` (dt) steps, ``num_steps`` (n) times
    after the first, and ends at ``final_sparsity`` (s_f). Before t0 the sparsity is 0; between
    pruning steps it stays at the last value; after the end it is s_f. Use it from a training
    loop::

        agp = AGP(0.9, begin_step=0, num_steps=10, frequency=100)
        for step, (x, y) in enumerate(loader):
            if agp.is_pruning_step(step):
                prune.magnitude(model, agp.amount(step))
            ...
    """

    def __init__(
        self,
        final_sparsity: float,
        *,
        num_steps: int,
        initial_sparsity: float = 0.0,
        begin_step: int = 0,
        frequency: int = 1,
    ) -> None:
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        if self.initial_sparsity > self.final_sparsity:
            raise ValueError(
                f"initial_sparsity={initial_sparsity!r} is above final_sparsity={final_sparsity!r}"
            )
        self.num_steps = check_int("num_steps", num_steps, 1)
        self.begin_step = check_int("begin_step", begin_step, 0)
        self.frequency = check_int("frequency", frequency, 1)
        self.end_step = self.begin_step + self.num_steps * self.frequency
        self.steps = tuple(range(self.begin_step, self.end_step + 1, self.frequency))

    def is_pruning_step(self, step: int) -> bool:
        return (
            self.begin_step <= step <= self.end_step
            and (step - self.begin_step) % self.frequency == 0
        )

    def sparsity(self, step: int) -> float:
        if step < self.begin_step:
            return 0.0
        done = min((step - self.begin_step) // self.frequency, self.num_steps)
        progress = done / self.num_steps
        return (
            self.final_sparsity
            + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** 3
        )

    def amount(self, step: int) -> float:
        """``amount`` for a pruning function at ``step`` (0.0 when it is not a pruning step)."""
        if not self.is_pruning_step(step):
            return 0.0
        before = self.sparsity(step - self.frequency) if step > self.begin_step else 0.0
        return _increment(before, self.sparsity(step))

    def __repr__(self) -> str:
        return (
            f"AGP({self.final_sparsity!r}, num_steps={self.num_steps}, initial_sparsity="
            f"{self.initial_sparsity!r}, begin_step={self.begin_step}, frequency={self.frequency})"
        )


Schedule = OneShot | Iterative | AGP


def run(
    model: nn.Module,
    schedule: Schedule,
    prune_fn: PruneFn,
    train_fn: TrainFn | None = None,
) -> nn.Module:
    """For each step of ``schedule``: ``prune_fn(model, amount)``, then ``train_fn(model, step)``.

    ``prune_fn`` is e.g. ``lambda m, a: prune.magnitude(m, a, pattern=(4, 1))``. For AGP this
    runs only the pruning steps; to train in between, drive AGP from your own loop instead.
    Modifies ``model`` in place and returns it.
    """
    if not callable(prune_fn):
        raise TypeError(f"prune_fn must be callable(model, amount), got {prune_fn!r}")
    if train_fn is not None and not callable(train_fn):
        raise TypeError(f"train_fn must be callable(model, step) or None, got {train_fn!r}")
    for step in schedule.steps:
        prune_fn(model, schedule.amount(step))
        if train_fn is not None:
            train_fn(model, step)
    return model


__all__ = ["AGP", "Iterative", "OneShot", "Schedule", "run"]
