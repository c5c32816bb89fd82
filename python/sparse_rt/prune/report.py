"""Sparsity reports: per layer pattern, sparsity, parameters and FLOPs; totals."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sparse_rt.prune._checks import as_example_input
from sparse_rt.prune._util import evaluating
from sparse_rt.prune.masks import describe, effective, pruning_hooks
from sparse_rt.prune.selection import has_weight, is_prunable


@dataclass(frozen=True)
class LayerSparsity:
    """One layer's weight. FLOPs count a multiply-add as 2 and are ``None`` without an input.

    ``flops`` is the dense count scaled to the non-zero weights (each non-zero weight is used
    once per output position), the work a perfect sparse kernel would do.
    """

    name: str
    kind: str
    pattern: str
    method: str
    shape: tuple[int, ...]
    params: int
    nonzero: int
    dense_flops: int | None
    flops: int | None

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """Per-layer rows and totals over those layers' weights (biases and norms not counted)."""

    layers: tuple[LayerSparsity, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def nonzero(self) -> int:
        return sum(layer.nonzero for layer in self.layers)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0

    @property
    def compression(self) -> float:
        """Dense weight count / non-zero weight count (Han et al.'s compression rate)."""
        return self.params / self.nonzero if self.nonzero else float("inf")

    @property
    def dense_flops(self) -> int | None:
        counts = [layer.dense_flops for layer in self.layers if layer.dense_flops is not None]
        return sum(counts) if counts else None

    @property
    def flops(self) -> int | None:
        counts = [layer.flops for layer in self.layers if layer.flops is not None]
        return sum(counts) if counts else None

    @property
    def speedup(self) -> float | None:
        """Theoretical speed-up: dense FLOPs / remaining FLOPs (an upper bound in practice)."""
        dense, remaining = self.dense_flops, self.flops
        if dense is None or remaining is None:
            return None
        return dense / remaining if remaining else float("inf")

    def layer(self, name: str) -> LayerSparsity:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def __str__(self) -> str:
        header = (
            f"{'layer':<32} {'type':<10} {'pattern':<16} {'params':>10} {'sparsity':>8} "
            f"{'MFLOPs':>10} {'dense':>10}"
        )
        lines = [header, "-" * len(header)]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<32} {layer.kind:<10} {layer.pattern:<16} {layer.params:>10} "
                f"{layer.sparsity:>8.2%} {_mflops(layer.flops):>10} "
                f"{_mflops(layer.dense_flops):>10}"
            )
        lines.append("-" * len(header))
        lines.append(
            f"{'total':<32} {'':<10} {'':<16} {self.params:>10} {self.sparsity:>8.2%} "
            f"{_mflops(self.flops):>10} {_mflops(self.dense_flops):>10}"
        )
        speedup = "n/a" if self.speedup is None else f"{self.speedup:.2f}x"
        lines.append(f"compression {self.compression:.2f}x, theoretical speedup {speedup}")
        return "\n".join(lines)


def _mflops(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.3f}"


def sparsity_report(model: nn.Module, example_input: object = None) -> SparsityReport:
    """Report every Linear/Conv layer, and any other layer with a pruned weight.

    Works for masks made by sparse_rt, by ``torch.nn.utils.prune`` directly, and for zeros
    made permanent with :func:`remove` (pattern "unstructured" when there is no mask to tell).
    ``example_input`` (a tensor or a shape) enables the FLOP columns; the model is run once in
    eval mode without gradients, its modes restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = [
        (name, m)
        for name, m in model.named_modules()
        if has_weight(m) and (is_prunable(m) or pruning_hooks(m))
    ]
    outputs: dict[str, list[int]] = {}
    if example_input is not None:
        inputs = as_example_input(example_input)
        handles = []
        for name, module in layers:

            def hook(module: nn.Module, args: object, output: object, name: str = name) -> None:
                if isinstance(output, torch.Tensor):
                    outputs.setdefault(name, []).append(output.numel())

            handles.append(module.register_forward_hook(hook))
        try:
            with evaluating(model):
                model(*inputs)
        finally:
            for handle in handles:
                handle.remove()
    rows = []
    for name, module in layers:
        weight = effective(module).detach()
        params = weight.numel()
        nonzero = int(torch.count_nonzero(weight))
        hook = pruning_hooks(module).get("weight")
        if hook is not None:
            pattern, method = describe(hook)
        else:
            pattern, method = ("dense" if nonzero == params else "unstructured"), "-"
        dense_flops = flops = None
        if example_input is not None and is_prunable(module):
            per_row = params // weight.shape[0]  # multiply-adds per output value
            produced = sum(outputs.get(name, []))
            dense_flops = 2 * produced * per_row
            flops = 2 * (produced // weight.shape[0]) * nonzero
        rows.append(
            LayerSparsity(
                name,
                type(module).__name__,
                pattern,
                method,
                tuple(weight.shape),
                params,
                nonzero,
                dense_flops,
                flops,
            )
        )
    return SparsityReport(tuple(rows))


__all__ = ["LayerSparsity", "SparsityReport", "sparsity_report"]
