"""ResNet-18 and ResNet-50 (He et al., 2016), plain torch.

Same layout as the usual ImageNet ResNets (7x7 stem, max-pool, four stages, global average
pool, one linear classifier; stride on the 3x3 conv of a bottleneck, "v1.5"), with a ``width``
knob for small test variants.
"""

from __future__ import annotations

import torch
from torch import nn

from sparse_rt.models._common import check_num_classes, check_positive, conv_bn, finish


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv_bn(in_channels, channels, 3, stride=stride)
        self.conv2 = conv_bn(channels, out_channels, 3, activation=None)
        self.downsample = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.downsample(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand by 4, plus shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv_bn(in_channels, channels, 1)
        self.conv2 = conv_bn(channels, channels, 3, stride=stride)
        self.conv3 = conv_bn(channels, out_channels, 1, activation=None)
        self.downsample = _shortcut(in_channels, out_channels, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + self.downsample(x))


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return conv_bn(in_channels, out_channels, 1, stride=stride, activation=None)


class ResNet(nn.Module):
    """Stem, four residual stages of ``block``, global average pool, linear classifier."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int = 1000,
        width: int = 64,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if isinstance(width, bool) or not isinstance(width, int):
            raise TypeError(f"width must be an int, got {width!r}")
        check_positive("width", width)
        self.stem = conv_bn(3, width, 7, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages = []
        in_channels = width
        for index, depth in enumerate(depths):
            channels = width * 2**index
            blocks = []
            for block_index in range(depth):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(block(in_channels, channels, stride))
                in_channels = channels * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.stem(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, *, width: int = 64) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2), in eval mode. ``width`` is the stem width (64)."""
    return finish(ResNet(BasicBlock, (2, 2, 2, 2), num_classes, width))


def resnet50(num_classes: int = 1000, *, width: int = 64) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3), in eval mode. ``width`` is the stem width (64)."""
    return finish(ResNet(Bottleneck, (3, 4, 6, 3), num_classes, width))


__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50"]
