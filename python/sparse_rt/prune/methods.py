"""Weight pruning with masks: by any importance, by magnitude, and data-free by SynFlow."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from sparse_rt.prune._checks import (
    Amount,
    as_example_input,
    check_amount,
    check_int,
    check_overrides,
    check_scope,
    count_from_amount,
)
from sparse_rt.prune.importance import LossFn, Magnitude, SynFlowNet, resolve, weight_scores
from sparse_rt.prune.masks import PatternMask, effective, mask_of
from sparse_rt.prune.patterns import NM, Pattern, UnitPattern, parse_pattern, prune_lowest
from sparse_rt.prune.selection import FilterFn, select_layers

Layers = list[tuple[str, nn.Module]]


def weights(
    model: nn.Module,
    amount: Amount | None,
    *,
    importance: object = "magnitude",
    pattern: object = "unstructured",
    scope: str = "layer",
    filter_fn: FilterFn | None = None,
    overrides: dict[str, Amount] | None = None,
    data: Iterable | None = None,
    loss_fn: LossFn | None = None,
) -> nn.Module:
    """Mask the least important weights of the selected layers. In place; returns ``model``.

    Args:
        amount: fraction (float in [0, 1]) or count (int) of the prunable units still unpruned
            to remove: weights for "unstructured", blocks for a block pattern. With an N:M
            pattern the sparsity is fixed; pass ``None`` or ``1 - N/M``.
        importance: ``"magnitude"`` (= ``"l1"``), ``"l2"``, ``"random"``, ``"taylor"`` (with
            ``data`` and optionally ``loss_fn``), an :class:`Importance` or ``fn(module, name)``
            returning weight-shaped scores.
        pattern: ``"unstructured"``, a block ``(rows, cols)`` of the ``weight.reshape(out, -1)``
            matrix, or ``"N:M"`` along its input dimension.
        scope: ``"layer"`` prunes ``amount`` of each layer; ``"global"`` ranks all selected
            layers' units together (one threshold), so layers with smaller scores lose more.
        filter_fn: ``fn(module, name) -> bool`` choosing layers; default
            :func:`default_filter` (all Linear/Conv except the first conv and last linear).
        overrides: ``{layer name: amount}`` pruned locally with their own amount; with
            ``scope="global"`` they are left out of the global ranking.
    """
    pattern = parse_pattern(pattern)
    scope = check_scope(scope)
    layers = _selected(model, filter_fn, pattern)
    overrides = check_overrides(overrides, [name for name, _ in layers])
    if isinstance(pattern, NM):
        _check_nm_amount(amount, pattern, "amount")
        for name, value in overrides.items():
            _check_nm_amount(value, pattern, f"overrides[{name!r}]")
        if scope == "global":
            raise ValueError(
                f"pattern '{pattern.label}' fixes the sparsity of every group; "
                "use scope='layer', not 'global'"
            )
    else:
        amount = check_amount(amount)
    scorer = resolve(importance, data=data, loss_fn=loss_fn)
    scorer.prepare(model)
    scores = {name: weight_scores(scorer, module, name) for name, module in layers}
    if isinstance(pattern, NM):
        masks = {name: pattern.mask(scores[name], mask_of(module)) for name, module in layers}
    else:
        masks = _unit_masks(layers, scores, pattern, amount, scope, overrides)  # type: ignore[arg-type]
    _apply(layers, masks, pattern)
    return model


def magnitude(
    model: nn.Module,
    amount: Amount | None,
    *,
    pattern: object = "unstructured",
    scope: str = "layer",
    filter_fn: FilterFn | None = None,
    overrides: dict[str, Amount] | None = None,
) -> nn.Module:
    """Magnitude pruning (Han et al. 2015): mask the smallest ``|w|``. In place; returns ``model``.

    Blocks are ranked by their mean ``|w|``; N:M keeps the largest N of every M. See
    :func:`weights` for the arguments.
    """
    return weights(
        model,
        amount,
        importance=Magnitude(1),
        pattern=pattern,
        scope=scope,
        filter_fn=filter_fn,
        overrides=overrides,
    )


def synflow(
    model: nn.Module,
    amount: Amount,
    *,
    example_input: object,
    iterations: int = 100,
    pattern: object = "unstructured",
    filter_fn: FilterFn | None = None,
) -> nn.Module:
    """Data-free SynFlow pruning (Tanaka et al. 2020). Modifies in place, returns ``model``.

    Scores ``|w * dR/dw|`` on a linearised copy (absolute weights, all-ones input of the example
    input's shape, ``R`` = sum of outputs; see :class:`SynFlowNet`) and prunes globally, over
    ``iterations`` rounds with the exponential schedule: after round ``k`` of ``n`` a fraction
    ``(1 - amount) ** (k / n)`` of the units remains, rescoring every round. Re-scoring is what
    keeps layers from collapsing at extreme sparsity. ``example_input`` may be a shape tuple;
    its values are never read.
    """
    pattern = parse_pattern(pattern)
    if not isinstance(pattern, UnitPattern):
        raise ValueError(
            f"synflow ranks units globally; pattern {pattern.label!r} cannot be used "
            "(use 'unstructured' or a block)"
        )
    amount = check_amount(amount)
    iterations = check_int("iterations", iterations, 1)
    inputs = as_example_input(example_input)
    layers = _selected(model, filter_fn, pattern)
    net = SynFlowNet(model, inputs, [name for name, _ in layers])
    masks = {name: mask_of(module).detach().to(torch.float64).clone() for name, module in layers}
    ones = {name: torch.ones_like(mask) for name, mask in masks.items()}
    start = torch.cat([pattern.unit_scores(ones[name], masks[name]) for name, _ in layers])
    dead = int(torch.isinf(start).sum())
    alive = start.numel() - dead
    final = count_from_amount(amount, alive, where="the selected layers")
    for step in range(1, iterations + 1):
        if step == iterations:
            target = final
        else:
            target = round(alive * (1.0 - (1.0 - final / max(alive, 1)) ** (step / iterations)))
        scores = net.scores(masks)
        units = [pattern.unit_scores(scores[name], masks[name]) for name, _ in layers]
        keep = prune_lowest(torch.cat(units), dead + target)
        parts = torch.split(keep, [u.numel() for u in units])
        for (name, module), part in zip(layers, parts, strict=True):
            shape = effective(module).shape
            masks[name] = masks[name] * pattern.expand(part, shape).to(torch.float64)
    _apply(layers, masks, pattern)
    return model


def _selected(model: nn.Module, filter_fn: FilterFn | None, pattern: Pattern) -> Layers:
    layers = select_layers(model, filter_fn)
    if not layers:
        raise ValueError(
            f"no layer selected for pruning (filter_fn={filter_fn!r}); nothing to prune"
        )
    for name, module in layers:
        pattern.check(effective(module).shape, name)
    return layers


def _check_nm_amount(amount: object, pattern: NM, what: str) -> None:
    if amount is None:
        return
    if isinstance(amount, bool) or not isinstance(amount, float):
        raise TypeError(
            f"with pattern '{pattern.label}' {what} must be None or the float "
            f"{pattern.sparsity!r}, got {amount!r}"
        )
    if abs(amount - pattern.sparsity) > 1e-6:
        raise ValueError(
            f"pattern '{pattern.label}' prunes exactly {pattern.sparsity!r} of each layer; "
            f"{what}={amount!r} disagrees (pass None or {pattern.sparsity!r})"
        )


def _unit_masks(
    layers: Layers,
    scores: dict[str, torch.Tensor],
    pattern: UnitPattern,
    amount: Amount,
    scope: str,
    overrides: dict[str, Amount],
) -> dict[str, torch.Tensor]:
    units = {name: pattern.unit_scores(scores[name], mask_of(module)) for name, module in layers}
    keep: dict[str, torch.Tensor] = {}
    pooled = []
    for name, _ in layers:
        if scope == "global" and name not in overrides:
            pooled.append(name)
            continue
        dead = int(torch.isinf(units[name]).sum())
        count = count_from_amount(
            overrides.get(name, amount), units[name].numel() - dead, where=f"layer {name!r}"
        )
        keep[name] = prune_lowest(units[name], dead + count)
    if pooled:
        joined = torch.cat([units[name] for name in pooled])
        dead = int(torch.isinf(joined).sum())
        count = count_from_amount(amount, joined.numel() - dead, where="the selected layers")
        flags = prune_lowest(joined, dead + count)
        parts = torch.split(flags, [units[name].numel() for name in pooled])
        for name, part in zip(pooled, parts, strict=True):
            keep[name] = part
    return {name: pattern.expand(keep[name], effective(module).shape) for name, module in layers}


def _apply(layers: Layers, masks: dict[str, torch.Tensor], pattern: Pattern) -> None:
    for name, module in layers:
        weight = effective(module)
        PatternMask.apply(
            module,
            "weight",
            masks[name].to(dtype=weight.dtype, device=weight.device),
            pattern.label,
        )


__all__ = ["magnitude", "synflow", "weights"]
