"""sparse_rt.export: torch model -> .sprt file (see the package docstring)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..format import FORMAT_NAME, FORMAT_VERSION, encode_weight, write_model
from .choose import Choice, choose_all
from .lower import lower
from .verify import verify_export

_FORMATS = ("auto", "dense", "csr", "bsr")


@dataclass
class LayerSummary:
    name: str
    op: str
    format: str
    blocksize: tuple | None
    shape: tuple          # the 2-D weight matrix (M, K)
    density: float
    stored_bytes: int
    reason: str
    timings_ms: dict = field(default_factory=dict)


@dataclass
class ExportSummary:
    path: str
    file_bytes: int
    layers: list[LayerSummary]
    verified: bool
    max_relative_error: float | None

    def __str__(self) -> str:
        lines = [f"{self.path}: {self.file_bytes / 1e6:.2f} MB, {len(self.layers)} weighted layers"
                 + (f", verified (max relative error {self.max_relative_error:.1e})"
                    if self.verified else ", not verified")]
        w = max([len(layer.name) for layer in self.layers] + [5])
        lines.append(f"{'layer':<{w}}  {'op':<6}  {'format':<8}  {'density':>7}  {'KB':>8}  reason")
        for layer in self.layers:
            fmt = layer.format + (f"{layer.blocksize[0]}x{layer.blocksize[1]}"
                                  if layer.blocksize else "")
            lines.append(f"{layer.name:<{w}}  {layer.op:<6}  {fmt:<8}  {layer.density:>7.3f}  "
                         f"{layer.stored_bytes / 1024:>8.1f}  {layer.reason}")
        return "\n".join(lines)

    def formats(self) -> dict:
        """Layer name -> storage label ("dense", "csr", "bsr4x4", ...)."""
        return {layer.name: layer.format + (f"{layer.blocksize[0]}x{layer.blocksize[1]}"
                                            if layer.blocksize else "")
                for layer in self.layers}


def _check_args(model, example_input, path, format, block, tolerance):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(example_input, np.ndarray):
        example_input = torch.from_numpy(example_input)
    if not isinstance(example_input, torch.Tensor):
        raise TypeError("example_input must be a torch.Tensor or numpy array, "
                        f"got {type(example_input).__name__}")
    if example_input.dtype != torch.float32:
        raise ValueError(f"example_input must be float32, got {example_input.dtype}")
    if example_input.dim() < 2:
        raise ValueError(f"example_input needs a batch dimension, got shape "
                         f"{tuple(example_input.shape)}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    formats = format.values() if isinstance(format, dict) else [format]
    for f in formats:
        if f not in _FORMATS:
            raise ValueError(f"format {f!r} is not one of {', '.join(_FORMATS)}")
    if block is not None:
        try:
            r, c = (int(b) for b in block)
        except (TypeError, ValueError):
            raise ValueError(f"block must be a pair (r, c), got {block!r}") from None
        if r < 1 or c < 1:
            raise ValueError(f"block must be positive, got {block!r}")
        block = (r, c)
    if not (tolerance > 0):
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    return example_input.detach().contiguous(), block


def export_model(model, example_input, path, *, format="auto", block=None, verify=True,
                 measure=True, tolerance=1e-4, index_dtype="auto", progress=False):
    """Export ``model`` (a torch ``nn.Module``) to the sparse_rt file ``path``.

    Args:
        example_input: a float32 tensor (or array) with a batch dimension; its shape sets the
            model's per-sample input shape (the batch stays free) and the batch used to time
            candidate formats.
        format: "auto" (measure each layer's candidates and keep the fastest), "dense",
            "csr", "bsr", or a dict from layer name (as in the summary) to one of those; layers
            missing from the dict use "auto".
        block: the BSR block shape (r, c) to use or to consider; default: the block shapes
            (1x4, 4x1, 4x4, 8x1, 16x1) that the layer's mask allows.
        verify: load the written file and compare with torch in eval mode; a difference above
            ``tolerance`` raises ExportVerificationError naming the first diverging layer.
        measure: time candidates (cached on disk in $SPARSE_RT_CACHE_DIR or
            ~/.cache/sparse_rt); False uses a density threshold.
        index_dtype: "auto" (uint16 column indices for layers with at most 65536 columns,
            int32 otherwise: 6 instead of 8 bytes per non-zero) or "int32".
        progress: show a progress bar (tqdm) while choosing formats.

    Returns an ExportSummary (per-layer storage, sizes and the reason for each choice). The
    model is left in the train/eval mode it had.
    """
    example, block = _check_args(model, example_input, path, format, block, tolerance)
    if index_dtype not in ("auto", "int32"):
        raise ValueError(f"index_dtype must be 'auto' or 'int32', got {index_dtype!r}")
    was_training = model.training
    model.eval()
    try:
        lowered = lower(model, example)
        if isinstance(format, dict):
            known = set(lowered.layers)
            unknown = sorted(set(format) - known)
            if unknown:
                raise ValueError(f"format dict names unknown layers {unknown}; layers are: "
                                 f"{sorted(known)}")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(lowered.layers), desc="choosing formats", unit="layer")
        choices = choose_all(lowered, format, block, batch=int(example.shape[0]),
                             measure=measure, progress=(lambda _: bar.update(1)) if bar else None)
        if bar:
            bar.close()
        tensors, layers = _encode(lowered, choices, index_dtype)
        import sparse_rt

        doc = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "producer": {"name": "sparse_rt.export", "version": sparse_rt.__version__,
                         "torch": torch.__version__, "model": type(model).__qualname__},
            "inputs": lowered.inputs, "outputs": lowered.outputs, "nodes": lowered.nodes,
            "metadata": {"export": {"format": format if isinstance(format, str) else "per-layer",
                                    "measured": bool(measure),
                                    "example_batch": int(example.shape[0]),
                                    "runtime": sparse_rt.runtime_info()}},
        }
        write_model(path, doc, tensors)
        err = verify_export(model, lowered.graph_module, example, os.fspath(path),
                            tolerance) if verify else None
    finally:
        model.train(was_training)
    return ExportSummary(os.fspath(path), os.path.getsize(path), layers, verify, err)


def _encode(lowered, choices: dict[str, Choice], index_dtype):
    tensors = dict(lowered.extra_tensors)
    layers = []
    for name, layer in lowered.layers.items():
        ch = choices[name]
        M = layer.weight.shape[0]
        K = layer.weight.size // max(1, M)
        blk_cols = K // ch.blocksize[1] if ch.format == "bsr" else K
        use_idt = np.uint16 if index_dtype == "auto" and blk_cols <= 65536 else np.int32
        t = encode_weight(name, layer.weight, ch.format, blocksize=ch.blocksize,
                          index_dtype=use_idt)
        tensors.update(t)
        desc = {"format": ch.format, "shape": [M, K]}
        if ch.format == "bsr":
            desc["blocksize"] = list(ch.blocksize)
        layer.node["weight"] = desc
        if layer.bias is not None:
            layer.node["attrs"]["bias"] = True
            tensors[f"{name}.bias"] = layer.bias
        density = float(np.count_nonzero(layer.weight)) / max(1, layer.weight.size)
        info = layer.node.setdefault("layer_info", {})
        info.update({"format_reason": ch.reason, "density": round(density, 6)})
        if ch.timings_ms:
            info["timings_ms"] = ch.timings_ms
        if len(ch.timings_ms_by_batch) > 1:
            info["timings_ms_by_batch"] = ch.timings_ms_by_batch
        layers.append(LayerSummary(name, layer.node["op"], ch.format, ch.blocksize, (M, K),
                                   density, sum(a.nbytes for a in t.values()), ch.reason,
                                   ch.timings_ms))
    return tensors, layers
