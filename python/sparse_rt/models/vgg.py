"""VGG-style networks (Simonyan & Zisserman, 2015): the classifier reads a flattened feature map."""

from __future__ import annotations

import torch
from torch import nn

from sparse_rt.models._common import check_num_classes, check_positive, finish, make_divisible

_MAXPOOL = "M"
_VGG11 = (64, _MAXPOOL, 128, _MAXPOOL, 256, 256, _MAXPOOL, 512, 512, _MAXPOOL, 512, 512, _MAXPOOL)
_SMALL = (64, 64, _MAXPOOL, 128, 128, _MAXPOOL, 256, _MAXPOOL)


class VGG(nn.Module):
    """3x3 conv (with bias) + BN + ReLU stacks and max-pools, then flatten -> linear layers.

    The classifier's first linear layer reads ``channels * s * s`` features, where ``s`` is
    ``input_size`` divided by 2 per max-pool: there is no adaptive pool before the flatten.
    """

    def __init__(
        self,
        config: tuple[int | str, ...],
        num_classes: int,
        input_size: int,
        width_mult: float,
        hidden: int,
        dropout: float,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_positive("width_mult", width_mult)
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        pools = sum(1 for item in config if item == _MAXPOOL)
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 2**pools:
            raise ValueError(f"input_size must be an int >= {2**pools}, got {input_size!r}")
        if input_size % 2**pools:
            raise ValueError(f"input_size must be a multiple of {2**pools}, got {input_size!r}")
        layers: list[nn.Module] = []
        in_channels = 3
        for item in config:
            if item == _MAXPOOL:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out_channels = make_divisible(int(item) * width_mult)
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        side = input_size // 2**pools
        self.input_shape = (3, input_size, input_size)  # fixed by the flatten -> Linear
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg11_bn(
    num_classes: int = 1000,
    *,
    input_size: int = 224,
    width_mult: float = 1.0,
    hidden: int = 4096,
    dropout: float = 0.5,
) -> VGG:
    """VGG-11 with batch norm, in eval mode; ``input_size`` must be a multiple of 32."""
    return finish(VGG(_VGG11, num_classes, input_size, width_mult, hidden, dropout))


def vgg_small(
    num_classes: int = 10,
    *,
    input_size: int = 32,
    width_mult: float = 1.0,
    hidden: int = 256,
    dropout: float = 0.5,
) -> VGG:
    """A 5-conv VGG for small images (CIFAR-sized), in eval mode; ``input_size`` multiple of 8."""
    return finish(VGG(_SMALL, num_classes, input_size, width_mult, hidden, dropout))


__all__ = ["VGG", "vgg11_bn", "vgg_small"]
