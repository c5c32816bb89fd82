"""MobileNetV1 (Howard et al., 2017) and MobileNetV2 (Sandler et al., 2018), plain torch."""

from __future__ import annotations

import torch
from torch import nn

from sparse_rt.models._common import (
    check_num_classes,
    check_positive,
    conv_bn,
    finish,
    make_divisible,
)

# (output channels, stride) of the 13 depthwise-separable blocks of MobileNetV1.
_V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip

# (expansion t, output channels c, repeats n, first stride s) of MobileNetV2.
_V2_STAGES = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn(in_channels, in_channels, 3, stride=stride, groups=in_channels)
        self.pointwise = conv_bn(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    """Stem conv, 13 depthwise-separable blocks, global average pool, linear classifier."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_positive("width_mult", width_mult)
        in_channels = make_divisible(32 * width_mult)
        self.stem = conv_bn(3, in_channels, 3, stride=2)
        blocks = []
        for channels, stride in _V1_BLOCKS:
            out_channels = make_divisible(channels * width_mult)
            blocks.append(DepthwiseSeparable(in_channels, out_channels, stride))
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise (both ReLU6), linear 1x1 projection; residual if shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(in_channels, hidden, 1, activation=nn.ReLU6))
        layers.append(conv_bn(hidden, hidden, 3, stride=stride, groups=hidden, activation=nn.ReLU6))
        layers.append(conv_bn(hidden, out_channels, 1, activation=None))
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """Stem, inverted-residual stages, 1x1 conv to 1280, pool, dropout, linear classifier."""

    def __init__(
        self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_positive("width_mult", width_mult)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        in_channels = make_divisible(32 * width_mult)
        last_channels = make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [conv_bn(3, in_channels, 3, stride=2, activation=nn.ReLU6)]
        for expansion, channels, repeats, first_stride in _V2_STAGES:
            out_channels = make_divisible(channels * width_mult)
            for index in range(repeats):
                stride = first_stride if index == 0 else 1
                layers.append(InvertedResidual(in_channels, out_channels, stride, expansion))
                in_channels = out_channels
        layers.append(conv_bn(in_channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v1(num_classes: int = 1000, *, width_mult: float = 1.0) -> MobileNetV1:
    """MobileNetV1 (ReLU, depthwise-separable blocks), in eval mode."""
    return finish(MobileNetV1(num_classes, width_mult))


def mobilenet_v2(
    num_classes: int = 1000, *, width_mult: float = 1.0, dropout: float = 0.2
) -> MobileNetV2:
    """MobileNetV2 (inverted residuals, ReLU6), in eval mode."""
    return finish(MobileNetV2(num_classes, width_mult, dropout))


__all__ = [
    "DepthwiseSeparable",
    "InvertedResidual",
    "MobileNetV1",
    "MobileNetV2",
    "mobilenet_v1",
    "mobilenet_v2",
]
