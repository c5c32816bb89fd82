"""After pruning: fine-tune with masks held, weight rewinding, LR rewinding, re-initialisation.

Small functions to compose in your own training code, not a training framework. Because masks
are ``orig * mask`` recomputed before every forward, any ordinary training loop keeps pruned
weights at zero: the gradient of a masked weight is zero and whatever the optimizer does to
``weight_orig`` there is multiplied by 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from sparse_rt.prune._checks import check_int
from sparse_rt.prune.masks import pruning_hooks, refresh


def fine_tune(
    model: nn.Module,
    data: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    scheduler: object = None,
) -> list[float]:
    """Train ``model`` (in train mode) on ``(input, target)`` batches; masks stay fixed.

    Calls ``scheduler.step()`` after every epoch if given. Restores the model's train/eval
    modes afterwards and returns the loss of every step.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable(output, target), got {loss_fn!r}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    epochs = check_int("epochs", epochs, 1)
    if max_steps is not None:
        check_int("max_steps", max_steps, 1)
    modes = [(m, m.training) for m in model.modules()]
    losses: list[float] = []
    model.train()
    try:
        for _ in range(epochs):
            for batch in data:
                if max_steps is not None and len(losses) >= max_steps:
                    break
                inputs, target = batch
                optimizer.zero_grad()
                loss = loss_fn(model(inputs), target)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            if scheduler is not None:
                scheduler.step()
    finally:
        for module, training in modes:
            module.training = training
        refresh(model)
    return losses


@dataclass
class Checkpoint:
    """Saved weights (pruned tensors under their plain names) and optionally LR state."""

    weights: dict[str, torch.Tensor]
    lrs: list[float] | None = None
    scheduler_state: dict | None = field(default=None)


def _entries(model: nn.Module) -> Iterable[tuple[str, nn.Module, str, torch.Tensor]]:
    """``(key, module, attribute, tensor)`` of every parameter and buffer, masks excluded,
    ``<name>_orig`` reported under ``<name>``."""
    for prefix, module in model.named_modules():
        pruned = pruning_hooks(module)
        owned = list(module._parameters.items()) + list(module._buffers.items())
        for attr, tensor in owned:
            if tensor is None:
                continue
            if attr.endswith("_mask") and attr[: -len("_mask")] in pruned:
                continue
            name = (
                attr[: -len("_orig")]
                if attr.endswith("_orig") and attr[: -len("_orig")] in pruned
                else attr
            )
            yield (f"{prefix}.{name}" if prefix else name), module, attr, tensor


def checkpoint(
    model: nn.Module, optimizer: torch.optim.Optimizer | None = None, scheduler: object = None
) -> Checkpoint:
    """Snapshot the weights (and the learning rates / scheduler state, for LR rewinding)."""
    weights = {key: tensor.detach().clone() for key, _, _, tensor in _entries(model)}
    lrs = [group["lr"] for group in optimizer.param_groups] if optimizer is not None else None
    state = scheduler.state_dict() if scheduler is not None else None  # type: ignore[attr-defined]
    return Checkpoint(weights, lrs, state)


def rewind_weights(model: nn.Module, saved: Checkpoint) -> nn.Module:
    """Weight rewinding (Frankle & Carbin 2019): restore saved weights, keep the current masks.

    Pruned weights become ``saved * mask``. Also restores biases and batch-norm statistics.
    Modifies in place and returns ``model``. The shapes must match (not after :func:`channels`).
    """
    if not isinstance(saved, Checkpoint):
        raise TypeError(
            f"saved must be a Checkpoint from prune.checkpoint(), got {type(saved).__name__}"
        )
    seen = set()
    with torch.no_grad():
        for key, _, _, tensor in _entries(model):
            if key not in saved.weights:
                raise ValueError(
                    f"the checkpoint has no tensor {key!r}; was it taken from this model?"
                )
            value = saved.weights[key]
            if value.shape != tensor.shape:
                raise ValueError(
                    f"checkpoint tensor {key!r} has shape {tuple(value.shape)}, "
                    f"the model has {tuple(tensor.shape)}"
                )
            tensor.copy_(value)
            seen.add(key)
    extra = sorted(set(saved.weights) - seen)
    if extra:
        raise ValueError(f"the checkpoint has tensors the model lacks: {extra[:5]}")
    return refresh(model)


def rewind_lr(
    optimizer: torch.optim.Optimizer, saved: Checkpoint, scheduler: object = None
) -> torch.optim.Optimizer:
    """Learning-rate rewinding (Renda et al. 2020): put the LR schedule back to the checkpoint.

    The weights are untouched (keep training the pruned, trained network) while the learning
    rates, and ``scheduler``'s position if given, return to where they were when ``saved`` was
    taken. Returns ``optimizer``.
    """
    if not isinstance(saved, Checkpoint):
        raise TypeError(
            f"saved must be a Checkpoint from prune.checkpoint(), got {type(saved).__name__}"
        )
    if saved.lrs is None:
        raise ValueError(
            "the checkpoint has no learning rates: pass the optimizer to prune.checkpoint()"
        )
    if len(saved.lrs) != len(optimizer.param_groups):
        raise ValueError(
            f"the checkpoint has {len(saved.lrs)} parameter groups, "
            f"the optimizer {len(optimizer.param_groups)}"
        )
    if scheduler is not None:
        if saved.scheduler_state is None:
            raise ValueError(
                "the checkpoint has no scheduler state: pass the scheduler to prune.checkpoint()"
            )
        scheduler.load_state_dict(saved.scheduler_state)  # type: ignore[attr-defined]
    for group, lr in zip(optimizer.param_groups, saved.lrs, strict=True):
        group["lr"] = lr
    return optimizer


def reinit(model: nn.Module, *, seed: int | None = None) -> nn.Module:
    """Random re-initialisation with the masks kept (the lottery-ticket "random reinit" control).

    Every module's own ``reset_parameters()`` draws the new values (batch-norm statistics are
    reset too); ``seed`` makes it deterministic without touching the global RNG. In place;
    returns ``model``.
    """
    if seed is not None:
        check_int("seed", seed, 0)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if not callable(reset):
                continue
            hooks = pruning_hooks(module)
            for name in hooks:  # expose the trainable tensor under its plain name for reset
                module.__dict__.pop(name, None)
                module._parameters[name] = module._parameters[f"{name}_orig"]
            try:
                with torch.no_grad():
                    reset()
            finally:
                for name, hook in hooks.items():
                    del module._parameters[name]
                    setattr(module, name, hook.apply_mask(module))
    return model


__all__ = ["Checkpoint", "checkpoint", "fine_tune", "reinit", "rewind_lr", "rewind_weights"]
