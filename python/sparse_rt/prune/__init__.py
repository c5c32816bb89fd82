"""Pruning: turn a trained torch model into a sparse one (imports torch; import explicitly).

``from sparse_rt import prune`` then:

* weight masks: :func:`magnitude`, :func:`weights` (any importance), :func:`synflow`;
  patterns "unstructured", blocks ``(r, c)``, ``"N:M"``; scope "layer" or "global";
* channel removal: :func:`channels` / :func:`plan_channels` (a smaller model, traced with fx);
* importance criteria: :class:`Magnitude`, :class:`Random`, :class:`Taylor`, :class:`SynFlow`;
* schedules: :class:`OneShot`, :class:`Iterative`, :class:`AGP`, :func:`run`;
* after pruning: :func:`fine_tune`, :func:`checkpoint`, :func:`rewind_weights`,
  :func:`rewind_lr`, :func:`reinit`, :func:`remove`;
* :func:`sparsity_report`.

Conventions follow ``torch.nn.utils.prune``: ``amount`` is a fraction if float, a count if int;
masks are ``weight_orig`` + ``weight_mask`` + a forward pre-hook; functions that prune modify
the model in place and return it (except :func:`channels`, which returns a new, smaller model).
See docs/pruning.md.
"""

from sparse_rt.prune.graph import UnsupportedGraphError
from sparse_rt.prune.importance import Importance, Magnitude, Random, SynFlow, Taylor
from sparse_rt.prune.masks import apply_mask, copy_model, is_pruned, remove
from sparse_rt.prune.methods import magnitude, synflow, weights
from sparse_rt.prune.patterns import NM, Block, Pattern, Unstructured
from sparse_rt.prune.report import LayerSparsity, SparsityReport, sparsity_report
from sparse_rt.prune.retrain import (
    Checkpoint,
    checkpoint,
    fine_tune,
    reinit,
    rewind_lr,
    rewind_weights,
)
from sparse_rt.prune.schedules import AGP, Iterative, OneShot, run
from sparse_rt.prune.selection import default_filter, every_layer
from sparse_rt.prune.structured import ChannelGroup, ChannelPlan, channels, plan_channels

__all__ = [
    "AGP",
    "NM",
    "Block",
    "ChannelGroup",
    "ChannelPlan",
    "Checkpoint",
    "Importance",
    "Iterative",
    "LayerSparsity",
    "Magnitude",
    "OneShot",
    "Pattern",
    "Random",
    "SparsityReport",
    "SynFlow",
    "Taylor",
    "Unstructured",
    "UnsupportedGraphError",
    "apply_mask",
    "channels",
    "checkpoint",
    "copy_model",
    "default_filter",
    "every_layer",
    "fine_tune",
    "is_pruned",
    "magnitude",
    "plan_channels",
    "reinit",
    "remove",
    "rewind_lr",
    "rewind_weights",
    "run",
    "sparsity_report",
    "synflow",
    "weights",
]
