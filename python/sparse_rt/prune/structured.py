"""Structured pruning that physically removes channels, producing a smaller ``nn.Module``.

:func:`plan_channels` traces the model (see :mod:`sparse_rt.prune.graph`), groups coupled
channels, scores them and decides what to remove; the resulting :class:`ChannelPlan` can zero
those channels with masks (:meth:`ChannelPlan.apply_masks`, e.g. to fine-tune first) or cut
them out (:meth:`ChannelPlan.apply`). :func:`channels` does both steps at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from sparse_rt.prune._checks import (
    Amount,
    as_example_input,
    check_amount,
    check_filter,
    check_scope,
    count_from_amount,
)
from sparse_rt.prune.graph import ChannelGraph
from sparse_rt.prune.importance import LossFn, channel_scores, resolve
from sparse_rt.prune.masks import PatternMask, copy_model, remove
from sparse_rt.prune.selection import FilterFn


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that must be removed together: the outputs of ``producers`` coupled by adds.

    A plain conv is a group of its own; a residual stage (every conv whose output is added into
    the same stream) is one group. ``channels`` counts the coupled channels, ``removed`` how
    many of them the plan removes.
    """

    producers: tuple[str, ...]
    channels: int
    removed: int


@dataclass(frozen=True)
class _Cut:
    module: str
    kind: str
    size: int
    keep: tuple[int, ...]


class ChannelPlan:
    """Which channels of which layers to remove; made by :func:`plan_channels`."""

    def __init__(self, cuts: list[_Cut], groups: list[ChannelGroup]) -> None:
        self._cuts = cuts
        self.groups = tuple(groups)

    def removed_channels(self, module: str) -> list[int]:
        """Indices of the output channels (or batch-norm features) of ``module`` that go."""
        for cut in self._cuts:
            if cut.module == module and cut.kind in ("out", "dw", "bn"):
                kept = set(cut.keep)
                return [i for i in range(cut.size) if i not in kept]
        raise ValueError(f"the plan has no output channels for layer {module!r}")

    @property
    def channels_removed(self) -> int:
        return sum(g.removed for g in self.groups)

    @property
    def channels_total(self) -> int:
        return sum(g.channels for g in self.groups)

    def apply(self, model: nn.Module) -> nn.Module:
        """A physically smaller copy of ``model`` (which is not modified).

        Masks already on the copy are made permanent first (:func:`remove`).
        """
        smaller = remove(copy_model(model))
        for cut in self._cuts:
            module = self._module(smaller, cut)
            if len(cut.keep) != cut.size:
                _shrink(module, cut.kind, torch.tensor(cut.keep, dtype=torch.long))
        return smaller

    def apply_masks(self, model: nn.Module) -> nn.Module:
        """Zero the planned channels with masks instead of removing them (in place; returns it).

        Masks the producers' filters and biases and the batch-norm scale and shift, so the
        removed channels are exactly zero everywhere; :meth:`apply` on the result gives a model
        that computes the same function.
        """
        for cut in self._cuts:
            module = self._module(model, cut)
            if cut.kind == "in" or len(cut.keep) == cut.size:
                continue
            keep = torch.zeros(cut.size, dtype=torch.bool)
            keep[list(cut.keep)] = True
            for name in ("weight", "bias"):
                if (
                    module._parameters.get(name) is None
                    and module._parameters.get(f"{name}_orig") is None
                ):
                    continue
                tensor = getattr(module, name)
                mask = (
                    keep.reshape(-1, *([1] * (tensor.dim() - 1)))
                    .expand(tensor.shape)
                    .to(tensor.dtype)
                )
                PatternMask.apply(module, name, mask.clone(), "channels")
        return model

    def _module(self, model: nn.Module, cut: _Cut) -> nn.Module:
        try:
            module = model.get_submodule(cut.module)
        except AttributeError:
            raise ValueError(
                f"this plan was made for another model: it has no layer {cut.module!r}"
            ) from None
        if _size(module, cut.kind) != cut.size:
            raise ValueError(
                f"this plan was made for another model: layer {cut.module!r} has "
                f"{_size(module, cut.kind)} {cut.kind} channels, the plan expects {cut.size}"
            )
        return module

    def __repr__(self) -> str:
        return (
            f"ChannelPlan({len(self.groups)} groups, removes {self.channels_removed} of "
            f"{self.channels_total} prunable channels)"
        )


def plan_channels(
    model: nn.Module,
    amount: Amount,
    *,
    example_input: object,
    importance: object = "l1",
    scope: str = "layer",
    filter_fn: FilterFn | None = None,
    overrides: dict[str, Amount] | None = None,
    data: Iterable | None = None,
    loss_fn: LossFn | None = None,
) -> ChannelPlan:
    """Decide which channels to remove (see :func:`channels` for the arguments)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    amount = check_amount(amount)
    scope = check_scope(scope)
    check_filter(filter_fn)
    inputs = as_example_input(example_input)
    scorer = resolve(importance, data=data, loss_fn=loss_fn)
    graph = ChannelGraph(model, inputs)

    # Units: coupled channels (union-find roots); each lists the (producer, index) it covers.
    members: dict[int, list[tuple[str, int]]] = {}
    producer_names: list[str] = []
    for role in graph.roles:
        if role.kind != "out":
            continue
        producer_names.append(role.module)
        for index, slot in enumerate(role.slots):
            if not graph.is_fixed(slot):
                members.setdefault(graph.find(slot), []).append((role.module, index))

    # Groups: producers linked through shared units.
    link = {name: name for name in producer_names}

    def root(name: str) -> str:
        while link[name] != name:
            name = link[name]
        return name

    for unit in members.values():
        for name, _ in unit[1:]:
            link[root(name)] = root(unit[0][0])
    grouped: dict[str, list[int]] = {}
    for unit_root, unit in members.items():
        grouped.setdefault(root(unit[0][0]), []).append(unit_root)
    group_producers = {
        key: tuple(dict.fromkeys(name for unit_root in units for name, _ in members[unit_root]))
        for key, units in grouped.items()
    }

    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(f"overrides must be a mapping of layer name to amount, got {overrides!r}")
    overrides = dict(overrides or {})
    group_amount: dict[str, Amount] = {}
    for name, value in overrides.items():
        if name not in link:
            raise ValueError(
                f"overrides names {name!r}, which is not a conv or linear layer of the model"
            )
        key = root(name)
        if key not in grouped:
            raise ValueError(
                f"overrides names {name!r}, whose output channels cannot be removed "
                "(they are fixed)"
            )
        value = check_amount(value, what=f"overrides[{name!r}]")
        if key in group_amount and group_amount[key] != value:
            raise ValueError(
                f"overrides give coupled layers {group_producers[key]} different amounts"
            )
        group_amount[key] = value

    prunable = [
        key
        for key in grouped
        if filter_fn is None
        or all(filter_fn(model.get_submodule(n), n) for n in group_producers[key])
    ]
    scorer.prepare(model)
    scores = {}
    for key in prunable:
        for name in group_producers[key]:
            scores[name] = channel_scores(scorer, model.get_submodule(name), name)
    unit_score = {
        unit_root: sum(float(scores[name][index]) for name, index in members[unit_root])
        for key in prunable
        for unit_root in grouped[key]
    }

    removed: set[int] = set()
    pooled = []
    for key in prunable:
        units = grouped[key]
        if scope == "global" and key not in group_amount:
            pooled.append(key)
            continue
        count = count_from_amount(
            group_amount.get(key, amount), len(units), where=f"group {group_producers[key]}"
        )
        removed.update(_lowest(units, unit_score, min(count, len(units) - 1)))
    if pooled:
        removed.update(_global_lowest(pooled, grouped, unit_score, amount))

    cuts = []
    for role in graph.roles:
        keep = tuple(i for i, slot in enumerate(role.slots) if graph.find(slot) not in removed)
        cuts.append(_Cut(role.module, role.kind, len(role.slots), keep))
    groups = [
        ChannelGroup(
            group_producers[key], len(grouped[key]), sum(1 for u in grouped[key] if u in removed)
        )
        for key in grouped
    ]
    return ChannelPlan(cuts, groups)


def channels(
    model: nn.Module,
    amount: Amount,
    *,
    example_input: object,
    importance: object = "l1",
    scope: str = "layer",
    filter_fn: FilterFn | None = None,
    overrides: dict[str, Amount] | None = None,
    data: Iterable | None = None,
    loss_fn: LossFn | None = None,
) -> nn.Module:
    """Remove the least important channels; returns a new, physically smaller model.

    The result has the same class, input and output shapes; ``model`` is not modified.

    Args:
        amount: fraction (float) or count (int) of the channels of each group to remove (a
            group is a conv/linear layer, or all layers coupled by residual adds). At least one
            channel of every group is kept.
        example_input: a tensor (or shape tuple) used to trace shapes, e.g. ``(1, 3, 32, 32)``.
        importance: ``"l1"`` (default; filter L1 norm, Li et al. 2017), ``"l2"``, ``"random"``,
            ``"taylor"`` (Molchanov et al. 2017; needs ``data``, an iterable of ``(input,
            target)`` batches, and optionally ``loss_fn(output, target)``, default
            cross-entropy), an :class:`Importance` or ``fn(module, name)`` returning one score
            per output channel. Coupled channels score the sum over their layers.
        scope: ``"layer"`` removes ``amount`` of every group; ``"global"`` ranks all channels
            together after dividing each group's scores by the group mean.
        filter_fn: ``fn(module, name) -> bool``; a group is pruned only if it accepts all of
            the group's layers. Default: every group (channels feeding the model output or
            coming from its input are never removed).
        overrides: ``{layer name: amount}`` for the group containing that layer.

    Raises:
        UnsupportedGraphError: (a ``ValueError``) naming the node the tracer cannot follow.
    """
    plan = plan_channels(
        model,
        amount,
        example_input=example_input,
        importance=importance,
        scope=scope,
        filter_fn=filter_fn,
        overrides=overrides,
        data=data,
        loss_fn=loss_fn,
    )
    return plan.apply(model)


def _lowest(units: list[int], score: dict[int, float], count: int) -> list[int]:
    ordered = sorted(units, key=lambda u: score[u])  # sorted() is stable: ties keep channel order
    return ordered[:count]


def _global_lowest(
    keys: list[str], grouped: dict[str, list[int]], score: dict[int, float], amount: Amount
) -> list[int]:
    normalised = []
    for key in keys:
        mean = sum(score[u] for u in grouped[key]) / len(grouped[key])
        for u in grouped[key]:
            normalised.append((score[u] / mean if mean > 0 else 0.0, key, u))
    normalised.sort(key=lambda item: item[0])
    count = count_from_amount(amount, len(normalised), where="the prunable channels")
    left = {key: len(grouped[key]) for key in keys}
    chosen = []
    for _, key, unit in normalised:
        if len(chosen) == count:
            break
        if left[key] > 1:
            left[key] -= 1
            chosen.append(unit)
    return chosen


def _size(module: nn.Module, kind: str) -> int | None:
    if isinstance(module, _ConvNd):
        return module.in_channels if kind == "in" else module.out_channels
    if isinstance(module, nn.Linear):
        return module.in_features if kind == "in" else module.out_features
    if isinstance(module, _BatchNorm):
        return module.num_features
    return None


def _take(module: nn.Module, name: str, dim: int, index: torch.Tensor) -> None:
    tensor = getattr(module, name, None)
    if tensor is None:
        return
    value = tensor.detach().index_select(dim, index).clone()
    if isinstance(tensor, nn.Parameter):
        setattr(module, name, nn.Parameter(value, requires_grad=tensor.requires_grad))
    else:
        setattr(module, name, value)


def _shrink(module: nn.Module, kind: str, keep: torch.Tensor) -> None:
    size = int(keep.numel())
    if kind == "in":
        _take(module, "weight", 1, keep)
        if isinstance(module, nn.Linear):
            module.in_features = size
        else:
            module.in_channels = size
    elif kind in ("out", "dw"):
        _take(module, "weight", 0, keep)
        _take(module, "bias", 0, keep)
        if isinstance(module, nn.Linear):
            module.out_features = size
        else:
            module.out_channels = size
            if kind == "dw":
                module.in_channels = size
                module.groups = size
    elif kind == "bn":
        for name in ("weight", "bias", "running_mean", "running_var"):
            _take(module, name, 0, keep)
        module.num_features = size


__all__ = ["ChannelGroup", "ChannelPlan", "channels", "plan_channels"]
