"""Dense training and the retraining recipes (torch; imported only when the demo runs).

One recipe for everything, so methods differ only in what the study varies:

* dense training: SGD (momentum 0.9, Nesterov, weight decay 5e-4), batch 64, learning rate 0.1
  divided by 10 at 50% and 75% of the epochs (``MultiStepLR``);
* retraining budget: half the dense epochs for every method;
* **fine-tune**: constant learning rate at the end of dense training (0.001), as in Renda et
  al. 2020's fine-tuning baseline;
* **LR rewinding** (Renda et al. 2020): keep the trained weights, put the learning-rate schedule
  back to where it was ``retrain`` epochs before the end, and replay it;
* **re-init** (the lottery-ticket control): the mask is kept, the weights are drawn afresh, then
  the LR-rewinding schedule is replayed (same budget).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sparse_rt import models, prune

from . import data as _data

LR = 0.1
FINE_TUNE_LR = LR * 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def build(model: str) -> nn.Module:
    if model == "mlp":
        return models.digits_mlp()
    if model == "cnn":
        return models.digits_cnn()
    raise ValueError(f"unknown model {model!r}; choose from mlp, cnn")


def input_shape(model: str) -> tuple[int, ...]:
    return (64,) if model == "mlp" else (1, 8, 8)


def _optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True,
                           weight_decay=WEIGHT_DECAY)


def _scheduler(optimizer, epochs: int):
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[epochs // 2, (3 * epochs) // 4], gamma=0.1)


def train_epochs(model: nn.Module, digits: _data.Digits, name: str, seed: int, optimizer,
                 epochs: range, scheduler=None) -> None:
    """Train over ``epochs`` (a range of epoch numbers, which fix the batch order)."""
    for epoch in epochs:
        prune.fine_tune(model, _data.batches(digits, name, seed, epoch), F.cross_entropy,
                        optimizer, scheduler=scheduler)


@dataclass
class Baseline:
    """A trained dense model, with what the retraining recipes need from its training run."""

    name: str               # "mlp" or "cnn"
    seed: int
    epochs: int
    retrain_epochs: int
    model: nn.Module        # trained, eval mode
    init: nn.Module         # the same network at initialisation (for SynFlow)
    rewind: prune.Checkpoint  # LR schedule state ``retrain_epochs`` before the end
    seconds: float


def train_dense(digits: _data.Digits, name: str, seed: int, epochs: int,
                retrain_epochs: int) -> Baseline:
    """Train the dense baseline for ``seed`` (deterministic with one torch thread)."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build(name)
    init = prune.copy_model(model)
    optimizer = _optimizer(model, LR)
    scheduler = _scheduler(optimizer, epochs)
    rewind_at = epochs - retrain_epochs
    train_epochs(model, digits, name, seed, optimizer, range(rewind_at), scheduler)
    rewind = prune.checkpoint(model, optimizer, scheduler)
    train_epochs(model, digits, name, seed, optimizer, range(rewind_at, epochs), scheduler)
    model.eval()
    return Baseline(name, seed, epochs, retrain_epochs, model, init, rewind,
                    time.perf_counter() - t0)


def train_from_init(model: nn.Module, digits, base: Baseline, seed: int) -> nn.Module:
    """The dense recipe from scratch (used after pruning at initialisation)."""
    optimizer = _optimizer(model, LR)
    scheduler = _scheduler(optimizer, base.epochs)
    train_epochs(model, digits, base.name, seed + 1000, optimizer, range(base.epochs), scheduler)
    return model.eval()


def fine_tune(model: nn.Module, digits, base: Baseline, seed: int, epochs: int | None = None,
              epoch0: int = 0) -> nn.Module:
    """Fine-tune at the final learning rate (masks held)."""
    n = base.retrain_epochs if epochs is None else epochs
    optimizer = _optimizer(model, FINE_TUNE_LR)
    train_epochs(model, digits, base.name, seed + 2000, optimizer, range(epoch0, epoch0 + n))
    return model.eval()


def lr_rewind(model: nn.Module, digits, base: Baseline, seed: int) -> nn.Module:
    """Retrain with the learning-rate schedule rewound to ``retrain_epochs`` before the end."""
    optimizer = _optimizer(model, LR)
    scheduler = _scheduler(optimizer, base.epochs)
    prune.rewind_lr(optimizer, base.rewind, scheduler)
    train_epochs(model, digits, base.name, seed + 3000, optimizer, range(base.retrain_epochs),
                 scheduler)
    return model.eval()
