"""Sparsity patterns: which groups of weights are removed together.

All patterns look at a weight through the 2-D view the exporter stores, ``weight.reshape(out,
-1)``: rows are output features / filters, columns are input features (for a Conv2d weight
``(O, I/g, kh, kw)`` the columns run over ``I/g * kh * kw`` in that order). A block ``(r, c)``
covers ``r`` consecutive rows and ``c`` consecutive columns of that view (scipy's BSR blocks of
the same matrix); N:M keeps at most ``N`` of every ``M`` consecutive columns of each row.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

import torch


class Pattern(ABC):
    """A way of grouping weights into prunable units."""

    label: str = "pattern"

    @abstractmethod
    def check(self, shape: torch.Size, layer: str) -> None:
        """Raise ``TypeError``/``ValueError`` if the pattern cannot apply to this weight."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class UnitPattern(Pattern):
    """A pattern whose units (single weights, blocks) are ranked against each other."""

    @abstractmethod
    def unit_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One score per unit, ``-inf`` for units already fully pruned by ``mask``."""

    @abstractmethod
    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Turn a boolean keep-flag per unit into an element mask of ``shape``."""


class Unstructured(UnitPattern):
    """Every weight is its own unit (Han et al. 2015)."""

    label = "unstructured"

    def check(self, shape: torch.Size, layer: str) -> None:
        del shape, layer

    def unit_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        flat = scores.reshape(-1).to(torch.float64)
        return flat.masked_fill(mask.reshape(-1) == 0, float("-inf"))

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return keep.reshape(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unstructured)

    def __hash__(self) -> int:
        return hash(self.label)


class Block(UnitPattern):
    """``rows x cols`` blocks of the 2-D weight view, scored by their mean importance."""

    def __init__(self, rows: int, cols: int) -> None:
        for value in (rows, cols):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"block shape must be two ints, got {(rows, cols)!r}")
            if value < 1:
                raise ValueError(f"block shape must be positive, got {(rows, cols)!r}")
        self.rows, self.cols = rows, cols
        self.label = f"block {rows}x{cols}"

    def check(self, shape: torch.Size, layer: str) -> None:
        if len(shape) < 2:
            raise TypeError(
                f"block pattern {self.rows}x{self.cols} needs a 2-D weight; "
                f"layer {layer!r} has shape {tuple(shape)}"
            )
        out_features, in_features = shape[0], _columns(shape)
        if out_features % self.rows or in_features % self.cols:
            raise ValueError(
                f"block {(self.rows, self.cols)!r} does not divide the "
                f"{out_features}x{in_features} "
                f"weight matrix of layer {layer!r}"
            )

    def _blocks(self, tensor: torch.Tensor) -> torch.Tensor:
        out_features = tensor.shape[0]
        view = tensor.reshape(out_features // self.rows, self.rows, -1, self.cols)
        return view

    def unit_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        alive = self._blocks(mask != 0).any(dim=3).any(dim=1)
        masked = (scores.to(torch.float64) * (mask != 0)).reshape(scores.shape[0], -1)
        means = self._blocks(masked).sum(dim=(1, 3)) / (self.rows * self.cols)
        return means.masked_fill(~alive, float("-inf")).reshape(-1)

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        grid = keep.reshape(shape[0] // self.rows, _columns(shape) // self.cols)
        full = grid.repeat_interleave(self.rows, dim=0).repeat_interleave(self.cols, dim=1)
        return full.reshape(shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and (other.rows, other.cols) == (self.rows, self.cols)

    def __hash__(self) -> int:
        return hash(self.label)


class NM(Pattern):
    """Keep the ``n`` most important of every ``m`` consecutive input weights of each row.

    The NVIDIA Ampere "2:4" structured sparsity (Mishra et al. 2021); the sparsity is fixed at
    ``1 - n/m`` per layer, so there is nothing to rank across groups or layers.
    """

    def __init__(self, n: int, m: int) -> None:
        for value in (n, m):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"N:M pattern needs two ints, got {n!r}:{m!r}")
        if m < 1 or n < 1:
            raise ValueError(f"N:M pattern needs N >= 1 and M >= 1, got '{n}:{m}'")
        if n > m:
            raise ValueError(f"N:M pattern needs N <= M, got '{n}:{m}'")
        self.n, self.m = n, m
        self.label = f"{n}:{m}"

    @property
    def sparsity(self) -> float:
        return 1.0 - self.n / self.m

    def check(self, shape: torch.Size, layer: str) -> None:
        if len(shape) < 2:
            raise TypeError(
                f"N:M pattern {self.label} needs a 2-D weight; "
                f"layer {layer!r} has shape {tuple(shape)}"
            )
        if _columns(shape) % self.m:
            raise ValueError(
                f"N:M pattern '{self.label}' needs the input dimension ({_columns(shape)}) of "
                f"layer {layer!r} to be a multiple of {self.m}"
            )

    def mask(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Element mask keeping the top ``n`` of each group of ``m`` (already-pruned ones last)."""
        groups = scores.to(torch.float64).reshape(scores.shape[0], -1, self.m)
        groups = groups.masked_fill(mask.reshape(groups.shape) == 0, float("-inf"))
        order = torch.argsort(groups, dim=-1, descending=True, stable=True)
        keep = torch.zeros(groups.shape, dtype=torch.bool)
        keep.scatter_(-1, order[..., : self.n], True)
        return keep.reshape(scores.shape) & (mask != 0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NM) and (other.n, other.m) == (self.n, self.m)

    def __hash__(self) -> int:
        return hash(self.label)


def _columns(shape: torch.Size) -> int:
    columns = 1
    for size in shape[1:]:
        columns *= size
    return columns


_NM_RE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_BLOCK_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_pattern(pattern: object) -> Pattern:
    """``"unstructured"``, a block ``(r, c)`` (or ``"RxC"``), an ``"N:M"`` string, or a Pattern."""
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        if pattern == "unstructured":
            return Unstructured()
        match = _NM_RE.match(pattern)
        if match:
            return NM(int(match.group(1)), int(match.group(2)))
        match = _BLOCK_RE.match(pattern)
        if match:
            return Block(int(match.group(1)), int(match.group(2)))
        raise ValueError(
            f"pattern must be 'unstructured', 'N:M', 'RxC' or a (rows, cols) tuple, got {pattern!r}"
        )
    if isinstance(pattern, (tuple, list)):
        if len(pattern) != 2:
            raise ValueError(f"block pattern must be (rows, cols), got {pattern!r}")
        return Block(pattern[0], pattern[1])
    raise TypeError(f"pattern must be a string or a (rows, cols) tuple, got {pattern!r}")


def prune_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Boolean keep-flags: drop the ``count`` lowest of a 1-D score vector (stable on ties)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if count > 0:
        order = torch.argsort(scores, stable=True)
        keep[order[:count]] = False
    return keep


__all__ = ["NM", "Block", "Pattern", "UnitPattern", "Unstructured", "parse_pattern", "prune_lowest"]
