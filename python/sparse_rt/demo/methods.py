"""The study arms: prune a trained baseline with one method, then retrain it (torch).

**Sparsity means the same thing for every method**: the fraction of all conv/linear weights of
the dense model that are gone (zero, or physically removed). By convention (Han et al. 2015)
the first conv and the last linear layer stay dense (``prune.default_filter``), so the other
layers are pruned a little harder to reach the requested overall figure. Channel methods
remove whole neurons/filters; the fraction of channels is searched so that the weights removed
match the requested sparsity. 2:4 fixes the sparsity of the pruned layers at 50%.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sparse_rt import prune

from . import train
from .config import METHODS

ITERATIVE_ROUNDS = 3
AGP_PRUNE_FRACTION = 2 / 3      # AGP prunes during the first 2/3 of the retraining steps
AGP_FREQUENCY = 10              # steps between AGP pruning steps
TAYLOR_BATCHES = 8


def weight_count(model: nn.Module, only=None) -> int:
    return sum(int(m.weight.numel()) for name, m in model.named_modules()
               if isinstance(m, (nn.Linear, nn.Conv2d)) and (only is None or only(m, name)))


def nonzero_count(model: nn.Module) -> int:
    return sum(int(torch.count_nonzero(m.weight.detach()))
               for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def layer_amount(model: nn.Module, sparsity: float) -> float:
    """The fraction of the prunable layers' weights to remove for an overall ``sparsity``."""
    total = weight_count(model)
    prunable = weight_count(model, prune.default_filter(model))
    amount = sparsity * total / prunable
    if amount > 1.0:
        raise ValueError(f"sparsity {sparsity} cannot be reached with the first and last layers "
                         f"dense ({prunable} of {total} weights prunable)")
    return amount


_channel_amounts: dict[tuple[str, float], tuple[float, float]] = {}


def channel_amount(base: train.Baseline, sparsity: float) -> tuple[float, float]:
    """(fraction of channels per group, resulting weight sparsity) closest to ``sparsity``.

    Which channels go depends on the criterion; how many per group does not, so the search uses
    L1 scores and is cached per model."""
    key = (base.name, sparsity)
    if key in _channel_amounts:
        return _channel_amounts[key]
    model = base.model
    example = (1,) + train.input_shape(base.name)
    total = weight_count(model)

    def achieved(a: float) -> float:
        small = prune.channels(model, a, example_input=example)
        return 1.0 - weight_count(small) / total

    lo, hi = 0.0, 1.0
    best = (0.0, 0.0)
    for _ in range(20):
        mid = (lo + hi) / 2
        s = achieved(mid)
        if abs(s - sparsity) < abs(best[1] - sparsity):
            best = (mid, s)
        if s < sparsity:
            lo = mid
        else:
            hi = mid
    _channel_amounts[key] = best
    return best


@dataclass
class Pruned:
    model: nn.Module
    channel_fraction: float | None = None   # channels removed / prunable channels


def apply(method: str, base: train.Baseline, sparsity: float, digits, seed: int) -> Pruned:
    """Prune a copy of ``base.model`` (or of its initialisation) with ``method`` and retrain."""
    spec = METHODS[method]
    torch.manual_seed(seed + 7)
    model = prune.copy_model(base.model)
    example = (1,) + train.input_shape(base.name)
    if method in ("magnitude", "magnitude-global", "block4x4", "random", "magnitude-lr-rewind",
                  "magnitude-reinit"):
        amount = layer_amount(model, sparsity)
        if method == "magnitude":
            prune.magnitude(model, amount)
        elif method == "block4x4":
            prune.magnitude(model, amount, pattern=(4, 4))
        elif method == "random":
            prune.weights(model, amount, importance=prune.Random(seed))
        else:
            prune.magnitude(model, amount, scope="global")
        if spec.retraining == "fine-tune":
            train.fine_tune(model, digits, base, seed)
        elif spec.retraining == "LR rewind":
            train.lr_rewind(model, digits, base, seed)
        else:  # re-init: same mask, fresh weights, the LR-rewinding schedule
            prune.reinit(model, seed=seed)
            train.lr_rewind(model, digits, base, seed)
        return Pruned(model)
    if method == "2:4":
        prune.magnitude(model, None, pattern="2:4")
        train.fine_tune(model, digits, base, seed)
        return Pruned(model)
    if method in ("l1-filter", "taylor-filter"):
        fraction, _ = channel_amount(base, sparsity)
        return prune_channels(base, fraction, digits, seed, method)
    if method == "synflow":
        model = prune.copy_model(base.init)
        prune.synflow(model, layer_amount(model, sparsity), example_input=example)
        train.train_from_init(model, digits, base, seed)
        return Pruned(model)
    if method == "magnitude-iterative":
        amount = layer_amount(model, sparsity)
        per_round = max(1, base.retrain_epochs // ITERATIVE_ROUNDS)
        prune.run(model, prune.Iterative(amount, rounds=ITERATIVE_ROUNDS),
                  lambda m, a: prune.magnitude(m, a, scope="global"),
                  lambda m, step: train.fine_tune(m, digits, base, seed, per_round,
                                                  epoch0=step * per_round))
        return Pruned(model.eval())
    if method == "magnitude-agp":
        return Pruned(_agp(model, base, layer_amount(model, sparsity), digits, seed))
    raise ValueError(f"unknown method {method!r}")


def prune_channels(base: train.Baseline, fraction: float, digits, seed: int,
                   method: str = "l1-filter") -> Pruned:
    """Physically remove ``fraction`` of the channels of every group, then fine-tune."""
    example = (1,) + train.input_shape(base.name)
    if method == "l1-filter":
        small = prune.channels(base.model, fraction, example_input=example, importance="l1")
    else:
        from . import data as _data

        batches = _data.batches(digits, base.name, seed + 4000, 0)[:TAYLOR_BATCHES]
        small = prune.channels(base.model, fraction, example_input=example, importance="taylor",
                               data=batches, loss_fn=F.cross_entropy)
    plan = prune.plan_channels(base.model, fraction, example_input=example)
    train.fine_tune(small, digits, base, seed)
    return Pruned(small, plan.channels_removed / max(1, plan.channels_total))


def _agp(model: nn.Module, base: train.Baseline, amount: float, digits, seed: int) -> nn.Module:
    """Gradual magnitude pruning during fine-tuning (Zhu & Gupta's cubic schedule)."""
    from . import data as _data

    steps_per_epoch = len(_data.batches(digits, base.name, seed, 0))
    total = steps_per_epoch * base.retrain_epochs
    num_steps = max(1, int(total * AGP_PRUNE_FRACTION) // AGP_FREQUENCY)
    agp = prune.AGP(amount, num_steps=num_steps, frequency=AGP_FREQUENCY)
    optimizer = torch.optim.SGD(model.parameters(), lr=train.FINE_TUNE_LR,
                                momentum=train.MOMENTUM, nesterov=True,
                                weight_decay=train.WEIGHT_DECAY)
    step = 0
    model.train()
    for epoch in range(base.retrain_epochs):
        for x, y in _data.batches(digits, base.name, seed + 5000, epoch):
            if agp.is_pruning_step(step):
                a = agp.amount(step)
                if a > 0:  # masks keep the same Parameter as weight_orig: the optimizer stays
                    prune.magnitude(model, a, scope="global")
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            step += 1
    return model.eval()

