"""Torch-style masks: ``<name>_orig`` parameter + ``<name>_mask`` buffer + forward pre-hook.

Everything here is built on ``torch.nn.utils.prune.BasePruningMethod``, so models pruned by
sparse_rt work with torch's ``prune.remove``/``prune.is_pruned``, and models pruned with torch's
own functions (``l1_unstructured``, ``ln_structured``, ...) are understood by sparse_rt.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune


class PatternMask(torch_prune.BasePruningMethod):
    """Apply a precomputed mask, remembering which sparsity pattern produced it.

    ``PRUNING_TYPE`` is "global" so that, on an already-pruned tensor, torch hands the whole
    tensor and the previous mask to :meth:`compute_mask` (the new mask is the product).
    """

    PRUNING_TYPE = "global"

    def __init__(self, mask: torch.Tensor | None, pattern: str = "unstructured") -> None:
        self.mask = mask
        self.pattern = pattern

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            raise RuntimeError(
                "PatternMask has already been applied; its mask lives in the module now"
            )
        if self.mask.shape != t.shape:
            raise ValueError(
                f"mask shape {tuple(self.mask.shape)} does not match tensor shape {tuple(t.shape)}"
            )
        return default_mask * self.mask.to(device=default_mask.device, dtype=default_mask.dtype)

    @classmethod
    def apply(  # type: ignore[override]
        cls, module: nn.Module, name: str, mask: torch.Tensor, pattern: str = "unstructured"
    ) -> torch_prune.BasePruningMethod:
        hook = super().apply(module, name, mask=mask, pattern=pattern)
        newest = hook[-1] if isinstance(hook, torch_prune.PruningContainer) else hook
        newest.mask = None  # the module's <name>_mask buffer is the one copy from now on
        return hook


def apply_mask(
    module: nn.Module, name: str, mask: torch.Tensor, pattern: str = "custom"
) -> nn.Module:
    """Mask ``module.<name>`` with ``mask`` (1 keeps, 0 prunes), combined with any earlier mask.

    Modifies ``module`` in place and returns it. ``pattern`` is only a label for reports.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if name not in module._parameters and f"{name}_orig" not in module._parameters:
        raise ValueError(f"{type(module).__name__} has no parameter named {name!r}")
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a tensor, got {type(mask).__name__}")
    PatternMask.apply(module, name, mask.detach(), pattern)
    return module


def pruning_hooks(module: nn.Module) -> dict[str, torch_prune.BasePruningMethod]:
    """``{tensor name: pruning hook}`` for the tensors of ``module`` that carry a mask."""
    hooks = {}
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, torch_prune.BasePruningMethod):
            hooks[hook._tensor_name] = hook
    return hooks


def is_pruned(model: nn.Module) -> bool:
    """True if any module of ``model`` carries a pruning mask (ours or torch's)."""
    return any(pruning_hooks(m) for m in model.modules())


def describe(hook: torch_prune.BasePruningMethod) -> tuple[str, str]:
    """``(pattern, method)`` labels of a pruning hook; containers list every step."""
    methods = list(hook) if isinstance(hook, torch_prune.PruningContainer) else [hook]
    patterns, names = [], []
    for method in methods:
        names.append(type(method).__name__)
        if isinstance(method, PatternMask):
            patterns.append(method.pattern)
        elif isinstance(method, (torch_prune.L1Unstructured, torch_prune.RandomUnstructured)):
            patterns.append("unstructured")
        elif isinstance(method, (torch_prune.LnStructured, torch_prune.RandomStructured)):
            patterns.append(f"structured(dim={method.dim})")
        elif isinstance(method, torch_prune.Identity):
            patterns.append("dense")
        else:
            patterns.append("custom")
    unique = list(dict.fromkeys(p for p in patterns if p != "dense")) or ["dense"]
    return "+".join(unique), "+".join(names)


def mask_of(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The current mask of ``module.<name>`` (all ones if it is not pruned)."""
    mask = module._buffers.get(f"{name}_mask")
    if mask is not None and f"{name}_orig" in module._parameters:
        return mask
    return torch.ones_like(getattr(module, name))


def effective(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The tensor the module computes with: a fresh ``orig * mask`` if pruned."""
    orig = module._parameters.get(f"{name}_orig")
    if orig is not None and f"{name}_mask" in module._buffers:
        return orig * module._buffers[f"{name}_mask"].to(dtype=orig.dtype)
    return getattr(module, name)


def original(module: nn.Module, name: str = "weight") -> nn.Parameter:
    """The trainable parameter behind ``module.<name>`` (``<name>_orig`` if pruned)."""
    orig = module._parameters.get(f"{name}_orig")
    return orig if orig is not None else module._parameters[name]


def refresh(model: nn.Module) -> nn.Module:
    """Recompute every pruned tensor attribute from ``orig * mask`` (as the next forward would)."""
    for module in model.modules():
        for name, hook in pruning_hooks(module).items():
            setattr(module, name, hook.apply_mask(module))
    return model


def copy_model(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` that also works on pruned models.

    A pruned module holds ``<name> = orig * mask`` as a non-leaf tensor, which plain
    ``deepcopy`` refuses to copy; this swaps in detached values for the copy and restores them.
    """
    saved = []
    for module in model.modules():
        for name in pruning_hooks(module):
            value = module.__dict__.get(name)
            if isinstance(value, torch.Tensor):
                saved.append((module, name, value))
                setattr(module, name, value.detach())
    try:
        clone = copy.deepcopy(model)
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
    return refresh(clone)


def remove(model: nn.Module) -> nn.Module:
    """Make every mask in ``model`` permanent (like ``torch.nn.utils.prune.remove`` on each).

    Afterwards the pruned weights are plain parameters with zeros where the mask was 0, there
    are no ``*_orig``/``*_mask`` entries and no hooks. Modifies in place and returns ``model``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for module in model.modules():
        for name in pruning_hooks(module):
            torch_prune.remove(module, name)
    return model


__all__ = [
    "PatternMask",
    "apply_mask",
    "copy_model",
    "describe",
    "effective",
    "is_pruned",
    "mask_of",
    "original",
    "pruning_hooks",
    "refresh",
    "remove",
]
