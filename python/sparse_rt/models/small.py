"""Small reference models: a network with concatenations and the digits (8x8) models."""

from __future__ import annotations

import torch
from torch import nn

from sparse_rt.models._common import check_num_classes, conv_bn, finish


class ConcatNet(nn.Module):
    """Inception-style branches joined by ``torch.cat``, a residual add onto the concatenation,
    and a DenseNet-style ``cat([z, f(z)])``; global average pool and linear classifier."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        check_num_classes(num_classes)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.stem = conv_bn(3, width, 3)
        self.branch1 = conv_bn(width, width, 1)
        self.branch2 = nn.Sequential(conv_bn(width, width, 1), conv_bn(width, width, 3))
        self.branch3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(width, width, 1))
        self.project = conv_bn(width, 3 * width, 1, activation=None)
        self.relu = nn.ReLU()
        self.reduce = conv_bn(3 * width, 2 * width, 3, stride=2)
        self.grow = conv_bn(2 * width, width, 3)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        y = self.relu(y + self.project(x))
        z = self.reduce(y)
        z = torch.cat([z, self.grow(z)], dim=1)
        return self.fc(torch.flatten(self.avgpool(z), 1))


class DigitsMLP(nn.Module):
    """LeNet-300-100 shape for the 8x8 digits: 64 -> 300 -> 100 -> classes (ReLU)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.input_shape = (64,)
        self.fc1 = nn.Linear(64, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))


class DigitsCNN(nn.Module):
    """Two 3x3 conv+BN+ReLU (16, 32 channels), 2x2 max-pool, flatten (32*4*4) -> 64 -> classes."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        check_num_classes(num_classes)
        self.input_shape = (1, 8, 8)
        self.conv1 = conv_bn(1, 16, 3)
        self.conv2 = conv_bn(16, 32, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv2(self.conv1(x)))
        return self.fc2(self.relu(self.fc1(torch.flatten(x, 1))))


def concat_net(num_classes: int = 10, *, width: int = 16) -> ConcatNet:
    """The concatenation test network (input 3xHxW, H and W even), in eval mode."""
    return finish(ConcatNet(num_classes, width))


def digits_mlp(num_classes: int = 10) -> DigitsMLP:
    """LeNet-300-100-shaped MLP for 64-feature (8x8) digits, in eval mode.

    Takes ``(N, 64)`` or ``(N, 1, 8, 8)`` input.
    """
    model = DigitsMLP(num_classes)
    return model.eval()


def digits_cnn(num_classes: int = 10) -> DigitsCNN:
    """Small CNN for ``(N, 1, 8, 8)`` digits, in eval mode."""
    return finish(DigitsCNN(num_classes))


__all__ = ["ConcatNet", "DigitsCNN", "DigitsMLP", "concat_net", "digits_cnn", "digits_mlp"]
