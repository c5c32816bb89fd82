"""Argument validation shared by the pruning functions (user input raises, never asserts)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

Amount = float | int


def check_amount(amount: object, *, what: str = "amount") -> Amount:
    """Return ``amount`` if it is a fraction in [0, 1] (float) or a count >= 0 (int)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"{what} must be a float fraction or an int count, got {amount!r}")
    if isinstance(amount, float):
        if not math.isfinite(amount) or not 0.0 <= amount <= 1.0:
            raise ValueError(f"{what} as a fraction must be in [0, 1], got {amount!r}")
    elif amount < 0:
        raise ValueError(f"{what} as a count must be >= 0, got {amount!r}")
    return amount


def count_from_amount(amount: Amount, total: int, *, where: str) -> int:
    """Number of units to prune out of ``total`` (a float is rounded like torch does)."""
    if isinstance(amount, float):
        return round(amount * total)
    if amount > total:
        raise ValueError(f"amount={amount!r} is more than the {total} prunable units of {where}")
    return amount


def check_scope(scope: object) -> str:
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    return scope  # type: ignore[return-value]


def check_overrides(overrides: object, names: Sequence[str]) -> dict[str, Amount]:
    """Validate a ``{layer name: amount}`` mapping against the selected layer names."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"overrides must be a mapping of layer name to amount, got {overrides!r}")
    known = set(names)
    result = {}
    for name, amount in overrides.items():
        if name not in known:
            raise ValueError(
                f"overrides names layer {name!r}, which is not among the selected layers"
            )
        result[name] = check_amount(amount, what=f"overrides[{name!r}]")
    return result


def check_filter(filter_fn: object) -> None:
    if filter_fn is not None and not callable(filter_fn):
        raise TypeError(
            f"filter_fn must be callable(module, name) -> bool or None, got {filter_fn!r}"
        )


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def as_example_input(example_input: object) -> tuple[torch.Tensor, ...]:
    """Turn an example input (a tensor, a tuple of tensors, or a shape) into model arguments.

    A shape (a tuple/list/``torch.Size`` of ints, batch first) becomes a zero tensor.
    """
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, torch.Size) or (
        isinstance(example_input, (tuple, list))
        and example_input
        and all(isinstance(d, int) and not isinstance(d, bool) for d in example_input)
    ):
        shape = tuple(example_input)
        if any(d < 1 for d in shape):
            raise ValueError(f"example_input shape must have positive sizes, got {shape!r}")
        return (torch.zeros(shape),)
    if (
        isinstance(example_input, (tuple, list))
        and example_input
        and all(isinstance(t, torch.Tensor) for t in example_input)
    ):
        return tuple(example_input)
    raise TypeError(
        "example_input must be a tensor, a tuple of tensors or a shape tuple, "
        f"got {type(example_input).__name__}: {example_input!r}"
    )
