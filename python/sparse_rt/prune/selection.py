"""Which layers a pruning call touches: the ``filter_fn(module, name) -> bool`` convention."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sparse_rt.prune._checks import check_filter

FilterFn = Callable[[nn.Module, str], bool]

#: Layer types whose ``weight`` the weight-pruning functions can mask.
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def is_prunable(module: nn.Module) -> bool:
    """True for the layer types the weight-pruning functions accept (Linear, Conv1/2/3d)."""
    return isinstance(module, PRUNABLE_TYPES)


def every_layer(module: nn.Module, name: str) -> bool:
    """A ``filter_fn`` selecting every Linear and Conv layer, first and last included."""
    del name
    return is_prunable(module)


def default_filter(model: nn.Module) -> FilterFn:
    """The default ``filter_fn``: every Linear/Conv layer except the first conv and last linear.

    "First" and "last" follow the order of ``model.named_modules()`` (registration order),
    which for the reference models is the order of execution. The first conv sees the raw
    input and the last linear produces the logits: both are small and sensitive, so by
    convention they stay dense (Han et al. 2015 and most later work do the same).
    """
    convs = [
        name
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
    ]
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    skipped = set()
    if convs:
        skipped.add(convs[0])
    if linears:
        skipped.add(linears[-1])

    def keep_first_and_last_dense(module: nn.Module, name: str) -> bool:
        return is_prunable(module) and name not in skipped

    return keep_first_and_last_dense


def has_weight(module: nn.Module) -> bool:
    """True if ``module`` owns a ``weight`` parameter (possibly reparametrised by pruning)."""
    return "weight" in module._parameters or "weight_orig" in module._parameters


def select_layers(model: nn.Module, filter_fn: FilterFn | None) -> list[tuple[str, nn.Module]]:
    """Modules with a weight that ``filter_fn`` (default: :func:`default_filter`) accepts.

    Raises ``TypeError`` if the filter selects a layer type that cannot be weight-pruned.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_filter(filter_fn)
    accept = default_filter(model) if filter_fn is None else filter_fn
    selected = []
    for name, module in model.named_modules():
        if not has_weight(module) or not accept(module, name):
            continue
        if not is_prunable(module):
            raise TypeError(
                f"filter_fn selected layer {name!r} of type {type(module).__name__}; only "
                f"{', '.join(t.__name__ for t in PRUNABLE_TYPES)} weights can be pruned"
            )
        selected.append((name, module))
    return selected
