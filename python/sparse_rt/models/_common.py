"""Shared helpers for the reference models (plain torch, no torchvision)."""

from __future__ import annotations

from torch import nn


def check_num_classes(num_classes: int) -> int:
    """Return ``num_classes`` if it is a positive int, else raise naming the value."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    return num_classes


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is a positive number, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (never below 90% of it)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d -> optional activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> nn.Module:
    """Kaiming-normal convs, unit batch-norms, small-normal linears; returns ``model``."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def finish(model: nn.Module) -> nn.Module:
    """Initialise and put a freshly built model in eval mode (ready to export)."""
    init_weights(model)
    return model.eval()


__all__ = [
    "check_num_classes",
    "check_positive",
    "conv_bn",
    "finish",
    "init_weights",
    "make_divisible",
]
