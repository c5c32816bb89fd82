"""Errors raised by the exporter (torch-free, so ``import sparse_rt`` can expose them)."""


class UnsupportedOpError(ValueError):
    """The model uses an operation sparse_rt's file format cannot express.

    The message names the graph node, its target and the line of user code it came from, and
    lists what is supported (also in docs/export.md).
    """


class ExportVerificationError(ValueError):
    """The exported file does not reproduce the torch model's output within tolerance."""
