"""Reference models in plain torch (no torchvision), used by the tests, benchmarks and demos.

Import explicitly (``import sparse_rt.models``); importing ``sparse_rt`` alone never imports
torch. Every builder takes ``num_classes``, returns the model in eval mode, and the models are
traceable by ``torch.fx.symbolic_trace``. They use only the layers the sparse_rt exporter
supports: Conv2d, Linear, BatchNorm2d, ReLU, ReLU6, MaxPool2d, AdaptiveAvgPool2d(1), add,
``torch.cat``, ``torch.flatten`` and Dropout.

Models whose input size is fixed (the VGGs, whose classifier reads a flattened feature map, and
the digits models) have an ``input_shape`` attribute: the input shape without the batch
dimension. The others take any reasonable image size.
"""

from sparse_rt.models.mobilenet import MobileNetV1, MobileNetV2, mobilenet_v1, mobilenet_v2
from sparse_rt.models.resnet import ResNet, resnet18, resnet50
from sparse_rt.models.small import (
    ConcatNet,
    DigitsCNN,
    DigitsMLP,
    concat_net,
    digits_cnn,
    digits_mlp,
)
from sparse_rt.models.vgg import VGG, vgg11_bn, vgg_small

__all__ = [
    "VGG",
    "ConcatNet",
    "DigitsCNN",
    "DigitsMLP",
    "MobileNetV1",
    "MobileNetV2",
    "ResNet",
    "concat_net",
    "digits_cnn",
    "digits_mlp",
    "mobilenet_v1",
    "mobilenet_v2",
    "resnet18",
    "resnet50",
    "vgg11_bn",
    "vgg_small",
]
