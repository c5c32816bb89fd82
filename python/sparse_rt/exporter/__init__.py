"""Export a (pruned) torch model to a sparse_rt model file.

``sparse_rt.export(model, example_input, path)`` traces the model with torch.fx in eval mode,
folds batch norm into the preceding convolution, fuses activations, chooses each layer's
storage (dense / CSR / BSR) — by measuring the candidates on the layer's real shapes unless told
otherwise — writes one ``.sprt`` file, and verifies it against torch. torch is imported only
when ``export`` is called.
"""

from .errors import ExportVerificationError, UnsupportedOpError

__all__ = ["ExportVerificationError", "UnsupportedOpError", "export", "SUPPORTED_OPS"]

# What the exporter understands (kept in sync with docs/export.md by a test).
SUPPORTED_OPS = (
    "nn.Conv2d (any kernel, stride, padding, dilation, groups; padding_mode='zeros')",
    "nn.Linear",
    "nn.BatchNorm2d (folded into the preceding conv when it is the conv's only user)",
    "nn.ReLU, F.relu, torch.relu, Tensor.relu",
    "nn.ReLU6, F.relu6",
    "nn.Hardswish, F.hardswish",
    "nn.Sigmoid, torch.sigmoid, F.sigmoid, Tensor.sigmoid",
    "nn.MaxPool2d, F.max_pool2d",
    "nn.AvgPool2d, F.avg_pool2d (no divisor_override)",
    "nn.AdaptiveAvgPool2d(1), F.adaptive_avg_pool2d(x, 1)",
    "+, torch.add, Tensor.add (no alpha), +=",
    "torch.cat / torch.concat along channels",
    "torch.flatten(x, 1), nn.Flatten(), Tensor.flatten(1), Tensor.view / reshape (batch kept)",
    "nn.Dropout, F.dropout (removed)",
    "nn.Identity, Tensor.contiguous",
    "nn.Softmax, F.softmax, torch.softmax, Tensor.softmax (not over the batch)",
)


def export(model, example_input, path, *, format="auto", block=None, verify=True, **options):
    """Export ``model`` to ``path``; see :func:`sparse_rt.exporter.export.export_model`."""
    from .export import export_model

    return export_model(model, example_input, path, format=format, block=block, verify=verify,
                        **options)
