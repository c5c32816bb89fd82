"""FLOP counts of a sparse_rt model file (numpy only), and the theoretical speedup.

Definitions (docs/benchmarks.md). A multiply-add counts 2 FLOPs. Counts are per batch of ``N``.

* ``conv2d`` with weight matrix W (M = out_channels, K = (C/groups)·kh·kw), output Ho × Wo:
  dense = 2·N·M·Ho·Wo·K; useful = 2·N·Ho·Wo·nnz(W).
* ``linear`` with W (M × K): dense = 2·N·M·K; useful = 2·N·nnz(W).
* nnz(W) counts the non-zero *values*: zeros stored explicitly (inside a BSR block, or an
  explicit CSR zero) are not useful work. Biases and fused activations are not counted.
* Everything else (batch norm left unfolded, add, activations, pools, softmax, concat) is
  ``other``: one FLOP per output element (two for batch norm and average pools count their
  window), reported apart and left out of the speedup. On the reference models it is below 1%.

``theoretical speedup = dense FLOPs of the unpruned model / useful FLOPs of the pruned one``
(conv + linear only). For weight masks the unpruned model has the same shapes as the pruned
file, so the file's own dense count is the baseline; for a channel-pruned (smaller) model the
baseline must come from the original model's file.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from ..format import ModelFile, read_model

WEIGHTED_OPS = ("conv2d", "linear")


@dataclass(frozen=True)
class LayerFlops:
    """One node's FLOPs for a batch of 1 (multiply by N for a batch)."""

    name: str
    op: str
    format: str | None        # "dense", "csr", "bsr4x4" for conv/linear; None otherwise
    shape: tuple | None       # the 2-D weight matrix (M, K)
    params: int               # M·K (0 for ops without weights)
    nnz: int                  # non-zero weight values
    dense_flops: int          # per sample; 0 for "other" ops
    useful_flops: int         # per sample; for "other" ops: their elementwise count

    @property
    def weighted(self) -> bool:
        return self.op in WEIGHTED_OPS

    @property
    def density(self) -> float | None:
        return self.nnz / self.params if self.params else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape) if self.shape else None
        d["density"] = self.density
        return d


@dataclass(frozen=True)
class ModelFlops:
    layers: tuple  # of LayerFlops, in file order

    @property
    def weighted(self) -> list:
        return [layer for layer in self.layers if layer.weighted]

    def dense(self, batch: int = 1) -> int:
        """Dense conv + linear FLOPs for a batch."""
        return batch * sum(layer.dense_flops for layer in self.weighted)

    def useful(self, batch: int = 1) -> int:
        """Conv + linear FLOPs on the non-zero weights, for a batch."""
        return batch * sum(layer.useful_flops for layer in self.weighted)

    def other(self, batch: int = 1) -> int:
        """Elementwise, pooling and normalisation FLOPs (not in the speedup)."""
        return batch * sum(layer.useful_flops for layer in self.layers if not layer.weighted)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.weighted)

    @property
    def nnz(self) -> int:
        return sum(layer.nnz for layer in self.weighted)

    @property
    def weight_sparsity(self) -> float:
        return 1.0 - self.nnz / self.params if self.params else 0.0

    def as_dict(self, batch: int = 1) -> dict:
        return {"batch": batch, "dense": self.dense(batch), "useful": self.useful(batch),
                "other": self.other(batch), "params": self.params, "nnz": self.nnz,
                "weight_sparsity": self.weight_sparsity}


def theoretical_speedup(baseline_dense_flops: float, useful_flops: float) -> float:
    """Dense FLOPs of the unpruned model / remaining FLOPs of the pruned one."""
    if baseline_dense_flops <= 0:
        raise ValueError(f"baseline dense FLOPs must be > 0, got {baseline_dense_flops!r}")
    if useful_flops <= 0:
        return float("inf")
    return float(baseline_dense_flops) / float(useful_flops)


def _nnz(mf: ModelFile, node) -> int:
    fmt = node.weight["format"]
    key = "weight" if fmt == "dense" else "data"
    return int(np.count_nonzero(mf.tensors[node.params[key]]))


def _other_flops(node, out_elems: int, mf: ModelFile) -> int:
    op, attrs = node.op, node.attrs
    if op in ("flatten", "reshape", "identity", "concat"):
        return 0
    if op == "batch_norm":
        return 2 * out_elems
    if op in ("max_pool2d", "avg_pool2d"):
        kh, kw = attrs["kernel"]
        return out_elems * kh * kw
    if op == "global_avg_pool":
        return int(np.prod([d for d in mf.shapes[node.inputs[0]][1:]]))
    if op == "softmax":
        return 3 * out_elems
    return out_elems  # add, relu, relu6, hardswish, sigmoid


def _label(desc: dict) -> str:
    if desc["format"] == "bsr":
        r, c = desc["blocksize"]
        return f"bsr{r}x{c}"
    return desc["format"]


def model_flops(model) -> ModelFlops:
    """Per-layer FLOPs of a model file (a path or a :class:`~sparse_rt.format.ModelFile`)."""
    mf = model if isinstance(model, ModelFile) else read_model(os.fspath(model))
    layers = []
    for node in mf.nodes:
        out_shape = node.output_shape[1:]
        out_elems = int(np.prod(out_shape)) if out_shape else 1
        if node.op in WEIGHTED_OPS:
            M, K = node.weight["shape"]
            nnz = _nnz(mf, node)
            positions = out_elems // M  # Ho·Wo for conv2d, 1 for linear
            layers.append(LayerFlops(node.name, node.op, _label(node.weight), (M, K), M * K, nnz,
                                     2 * positions * M * K, 2 * positions * nnz))
        else:
            layers.append(LayerFlops(node.name, node.op, None, None, 0, 0, 0,
                                     _other_flops(node, out_elems, mf)))
    return ModelFlops(tuple(layers))
