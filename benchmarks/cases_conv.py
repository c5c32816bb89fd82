"""Convolution cases shared by tests/python/kernels/test_conv.py and benchmarks/bench_conv.py.

Pure data (no imports beyond the standard library). Shapes are the seven ResNet-50 layers of
docs/PERF_ANCHORS (3x3 and 1x1 bottleneck convs), their stride-2 variants (same channels, the
input spatial size halves the output), and MobileNet depthwise 3x3 layers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvShape:
    name: str
    in_channels: int
    out_channels: int
    size: int  # input H = W
    kernel: int
    stride: int = 1
    groups: int = 1

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def out_size(self) -> int:
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1

    def macs(self, batch: int = 1) -> int:
        """Dense multiply-adds (FLOPs = 2 x MACs)."""
        return (batch * self.out_channels * (self.in_channels // self.groups)
                * self.kernel * self.kernel * self.out_size * self.out_size)

    @property
    def depthwise(self) -> bool:
        return self.groups == self.in_channels and self.groups > 1


_RESNET = [
    ("3x3_64_56", 64, 64, 56, 3),
    ("3x3_128_28", 128, 128, 28, 3),
    ("3x3_256_14", 256, 256, 14, 3),
    ("3x3_512_7", 512, 512, 7, 3),
    ("1x1_256to64_56", 256, 64, 56, 1),
    ("1x1_1024to256_14", 1024, 256, 14, 1),
    ("1x1_2048to512_7", 2048, 512, 7, 1),
]

# The seven ResNet-50 layers of PERF_ANCHORS.md (stride 1).
RESNET = [ConvShape(n, c, o, h, k) for n, c, o, h, k in _RESNET]
# Their stride-2 variants (the downsampling convs of the next stage use these channel counts).
RESNET_S2 = [ConvShape(n + "_s2", c, o, h, k, stride=2) for n, c, o, h, k in _RESNET]
# MobileNetV1 depthwise 3x3 layers.
DEPTHWISE = [
    ConvShape("dw3x3_128_56", 128, 128, 56, 3, groups=128),
    ConvShape("dw3x3_256_56_s2", 256, 256, 56, 3, stride=2, groups=256),
]

SHAPES = RESNET + RESNET_S2 + DEPTHWISE
BATCHES = (1, 16)
SPARSITIES = (0.0, 0.7, 0.9, 0.95)

# Speed targets from issue 5 (2 threads), checked by benchmarks/bench_conv.py's summary.
TARGETS = {
    "3x3_64_56 s=0.9 batch 1 vs torch": 5.3,
    "ResNet-50 shape s=0.9 vs torch": 3.0,
    "large 3x3 useful GFLOP/s fraction of FMA peak": 0.5,
    "dense s=0 vs torch": 0.8,
    "1->2 threads at batch 16": 1.8,
}
FMA_PEAK_GFLOPS_2T = 233.0


def format_for(shape: ConvShape, sparsity: float) -> str:
    """The format a benchmark case runs: dense weights at s=0 and for depthwise, else CSR."""
    return "dense" if sparsity == 0.0 or shape.depthwise else "csr"
