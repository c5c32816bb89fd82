"""Importance criteria: small callables that score weights and output channels.

An :class:`Importance` answers two questions about a layer (``module`` named ``name`` inside the
model being pruned): ``imp(module, name)`` scores every weight (same shape as the weight), and
``imp.channels(module, name)`` scores every output channel (shape ``(out,)``). Larger means
more important; pruning removes the lowest scores. Data-driven criteria gather what they need
in :meth:`Importance.prepare`, which the pruning functions call once on the model first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import prune as torch_prune

from sparse_rt.prune._checks import as_example_input, check_int
from sparse_rt.prune.masks import copy_model, effective, original, pruning_hooks
from sparse_rt.prune.selection import is_prunable

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Importance:
    """Base class. Override ``__call__``; override ``channels`` and ``prepare`` when needed."""

    def prepare(self, model: nn.Module) -> None:
        """Gather statistics over ``model`` before scoring (no-op for data-free criteria)."""
        del model

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        """Score of every weight of ``module`` (same shape as its weight)."""
        raise NotImplementedError

    def channels(self, module: nn.Module, name: str) -> torch.Tensor:
        """Score of every output channel; by default the sum of the weight scores of each row."""
        scores = self(module, name)
        return scores.reshape(scores.shape[0], -1).sum(dim=1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Magnitude(Importance):
    """|w| per weight (Han et al. 2015); the Lp norm of each filter per channel (Li et al. 2017).

    ``p=1`` ranks filters by their L1 norm as Li et al. do; ``p=2`` by the L2 norm.
    """

    def __init__(self, p: float = 1) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"p must be a number, got {p!r}")
        if not p > 0:
            raise ValueError(f"p must be > 0, got {p!r}")
        self.p = p

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        return effective(module).detach().abs()

    def channels(self, module: nn.Module, name: str) -> torch.Tensor:
        weight = effective(module).detach()
        return torch.linalg.vector_norm(weight.reshape(weight.shape[0], -1), ord=self.p, dim=1)

    def __repr__(self) -> str:
        return f"Magnitude(p={self.p!r})"


class Random(Importance):
    """Uniform random scores: the baseline every criterion should beat. Deterministic per seed."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = check_int("seed", seed, 0)
        self._generator: torch.Generator | None = None

    def prepare(self, model: nn.Module) -> None:
        del model
        self._generator = torch.Generator().manual_seed(self.seed)

    def _gen(self) -> torch.Generator:
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(self.seed)
        return self._generator

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        return torch.rand(effective(module).shape, generator=self._gen())

    def channels(self, module: nn.Module, name: str) -> torch.Tensor:
        return torch.rand(effective(module).shape[0], generator=self._gen())

    def __repr__(self) -> str:
        return f"Random(seed={self.seed})"


class Taylor(Importance):
    """First-order Taylor estimate of the loss change from removing a channel or weight.

    Channels follow Molchanov et al. 2017: for each output channel ``z`` of a conv/linear layer,
    ``|mean over positions of (activation * dL/dactivation)|``, averaged over all examples of
    ``data``. Weights use ``|w * mean gradient|`` (the same expansion per weight).

    ``data`` is an iterable of ``(input, target)`` batches, iterated once per :meth:`prepare`
    (so pass a list or a DataLoader, not a one-shot generator, if you prune more than once);
    ``loss_fn(output, target)`` defaults to cross-entropy. Statistics are gathered in eval mode
    (batch-norm uses its running statistics); the model's modes and ``.grad`` are restored.
    """

    def __init__(
        self, data: Iterable, loss_fn: LossFn | None = None, *, max_batches: int | None = None
    ) -> None:
        if not isinstance(data, Iterable):
            raise TypeError(
                f"data must be an iterable of (input, target) batches, got {type(data).__name__}"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable(output, target) -> loss, got {loss_fn!r}")
        if max_batches is not None:
            check_int("max_batches", max_batches, 1)
        self.data = data
        self.loss_fn = loss_fn if loss_fn is not None else F.cross_entropy
        self.max_batches = max_batches
        self._weights: dict[str, torch.Tensor] = {}
        self._channels: dict[str, torch.Tensor] = {}

    def prepare(self, model: nn.Module) -> None:
        layers = {name: m for name, m in model.named_modules() if is_prunable(m)}
        sums: dict[str, torch.Tensor] = {}
        examples = 0
        batches = 0

        def make_hook(name: str, channel_dim: int) -> Callable:
            def forward_hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
                if not output.requires_grad:
                    return
                activation = output.detach()

                def grad_hook(grad: torch.Tensor) -> None:
                    product = (activation * grad).movedim(channel_dim, 1)
                    per_example = product.reshape(product.shape[0], product.shape[1], -1).mean(
                        dim=2
                    )
                    total = per_example.abs().sum(dim=0)
                    sums[name] = total if name not in sums else sums[name] + total

                output.register_hook(grad_hook)

            return forward_hook

        params = list(model.parameters())
        saved = [(p, p.grad, p.requires_grad) for p in params]
        modes = [(m, m.training) for m in model.modules()]
        handles = [
            m.register_forward_hook(make_hook(name, -1 if isinstance(m, nn.Linear) else 1))
            for name, m in layers.items()
        ]
        try:
            for p in params:
                p.grad = None
                p.requires_grad_(True)
            model.eval()
            with torch.enable_grad():
                for index, batch in enumerate(self.data):
                    if self.max_batches is not None and index >= self.max_batches:
                        break
                    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                        raise TypeError(
                            "Taylor data must yield (input, target) pairs, "
                            f"got {type(batch).__name__}"
                        )
                    inputs, target = batch
                    output = model(*inputs) if isinstance(inputs, (tuple, list)) else model(inputs)
                    self.loss_fn(output, target).backward()
                    examples += output.shape[0]
                    batches += 1
            if batches == 0:
                raise ValueError("Taylor importance needs data, but data yielded no batches")
            self._channels = {name: total / examples for name, total in sums.items()}
            self._weights = {}
            for name, module in layers.items():
                weight = original(module)
                grad = weight.grad if weight.grad is not None else torch.zeros_like(weight)
                self._weights[name] = (effective(module).detach() * grad / batches).abs()
        finally:
            for handle in handles:
                handle.remove()
            for p, grad, requires_grad in saved:
                p.grad = grad
                p.requires_grad_(requires_grad)
            for m, training in modes:
                m.training = training

    def _lookup(self, table: dict[str, torch.Tensor], module: nn.Module, name: str) -> torch.Tensor:
        if name not in table:
            if not self._weights:
                raise ValueError(
                    "Taylor importance has no statistics yet: call prepare(model) first"
                )
            raise ValueError(
                f"Taylor importance has no statistics for layer {name!r} "
                "(was prepare() run on this model?)"
            )
        return table[name]

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        return self._lookup(self._weights, module, name)

    def channels(self, module: nn.Module, name: str) -> torch.Tensor:
        if name in self._weights and name not in self._channels:
            return torch.zeros(self._weights[name].shape[0])  # layer never reached the loss
        return self._lookup(self._channels, module, name)

    def __repr__(self) -> str:
        loss = getattr(self.loss_fn, "__name__", self.loss_fn)
        return f"Taylor(loss_fn={loss!r}, max_batches={self.max_batches!r})"


class SynFlowNet:
    """The linearised copy of a model that SynFlow scores (Tanaka et al. 2020).

    All parameters and buffers are replaced by their absolute values in float64, batch-norms
    act as positive per-channel affine maps (running mean set to zero), activation modules
    (ReLU, ReLU6, Hardswish, ...) become the identity (on this all-positive network ReLU already
    is; a ReLU6 would saturate and stop the flow), and the input is a single all-ones example
    with the example input's shape. ``R = sum(output)`` and the score of a weight is
    ``|w * dR/dw|``; masked weights score 0. Activations called as functions in ``forward``
    are kept as they are. The original model is not modified.
    """

    def __init__(
        self, model: nn.Module, inputs: tuple[torch.Tensor, ...], names: Iterable[str]
    ) -> None:
        self.names = list(names)
        net = copy_model(model).double().eval()
        _linearise_activations(net)
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, _BatchNorm) and module.running_mean is not None:
                    module.running_mean.zero_()
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        for name in self.names:
            module = net.get_submodule(name)
            if "weight" not in pruning_hooks(module):
                torch_prune.identity(module, "weight")
        for p in net.parameters():
            p.requires_grad_(True)
        self.net = net
        self.inputs = tuple(torch.ones((1, *t.shape[1:]), dtype=torch.float64) for t in inputs)

    def scores(self, masks: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Scores of every named layer's weight, after loading ``masks`` (name -> mask) if given."""
        if masks:
            with torch.no_grad():
                for name, mask in masks.items():
                    self.net.get_submodule(name).weight_mask.copy_(mask)
        self.net.zero_grad(set_to_none=True)
        with torch.enable_grad():
            output = self.net(*self.inputs)
            total = _sum_outputs(output)
            total.backward()
        result = {}
        for name in self.names:
            weight = original(self.net.get_submodule(name))
            grad = weight.grad if weight.grad is not None else torch.zeros_like(weight)
            score = (weight.detach() * grad).abs()
            if not torch.isfinite(score).all():
                raise ValueError(
                    f"SynFlow scores overflowed float64 at layer {name!r}; the network is too deep "
                    "or its weights too large for the all-ones input"
                )
            result[name] = score
        return result


# Activations that are the identity on positive inputs, up to a clamp or a smooth knee: in the
# all-positive linearised network they would only saturate (ReLU6 at 6) and block the flow.
_LINEARISED_ACTIVATIONS = (
    nn.ReLU,
    nn.Hardtanh,
    nn.Hardswish,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
)


def _linearise_activations(net: nn.Module) -> None:
    for parent in net.modules():
        for child_name, child in list(parent.named_children()):
            if isinstance(child, _LINEARISED_ACTIVATIONS):
                setattr(parent, child_name, nn.Identity())


def _sum_outputs(output: object) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output.sum()
    if isinstance(output, (tuple, list)):
        return sum(_sum_outputs(o) for o in output)
    if isinstance(output, dict):
        return sum(_sum_outputs(o) for o in output.values())
    raise TypeError(f"cannot sum a model output of type {type(output).__name__}")


class SynFlow(Importance):
    """One-shot SynFlow scores (Tanaka et al. 2020); :func:`sparse_rt.prune.synflow` iterates them.

    Data-free: ``example_input`` (a tensor or a shape) only gives the input shape.
    """

    def __init__(self, example_input: object) -> None:
        self.inputs = as_example_input(example_input)
        self._scores: dict[str, torch.Tensor] = {}

    def prepare(self, model: nn.Module) -> None:
        names = [name for name, m in model.named_modules() if is_prunable(m)]
        self._scores = SynFlowNet(model, self.inputs, names).scores()

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        if name not in self._scores:
            raise ValueError(
                f"SynFlow importance has no score for layer {name!r}: call prepare(model) first"
            )
        return self._scores[name]


class _FromCallable(Importance):
    """Wraps a plain ``fn(module, name) -> Tensor`` (weight-shaped or per output channel)."""

    def __init__(self, fn: Callable[[nn.Module, str], torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, module: nn.Module, name: str) -> torch.Tensor:
        return self.fn(module, name)

    def channels(self, module: nn.Module, name: str) -> torch.Tensor:
        scores = self.fn(module, name)
        out_channels = effective(module).shape[0]
        if scores.dim() == 1 and scores.shape[0] == out_channels:
            return scores
        return scores.reshape(out_channels, -1).sum(dim=1)

    def __repr__(self) -> str:
        return f"importance {getattr(self.fn, '__name__', self.fn)!r}"


IMPORTANCE_NAMES = ("magnitude", "l1", "l2", "random", "taylor")


def resolve(
    importance: object, *, data: Iterable | None = None, loss_fn: LossFn | None = None
) -> Importance:
    """An Importance from a name (see ``IMPORTANCE_NAMES``), an Importance or a callable."""
    if isinstance(importance, str):
        if importance != "taylor" and (data is not None or loss_fn is not None):
            raise ValueError(
                f"data and loss_fn are only used with importance='taylor', not {importance!r}"
            )
        if importance in ("magnitude", "l1"):
            return Magnitude(1)
        if importance == "l2":
            return Magnitude(2)
        if importance == "random":
            return Random(0)
        if importance == "taylor":
            if data is None:
                raise ValueError(
                    "importance='taylor' needs data=<iterable of (input, target) batches> "
                    "(and optionally loss_fn=)"
                )
            return Taylor(data, loss_fn)
        raise ValueError(
            f"importance must be one of {IMPORTANCE_NAMES} or an Importance, got {importance!r}"
        )
    if data is not None or loss_fn is not None:
        raise ValueError(
            "data and loss_fn are only used with importance='taylor'; "
            "pass them to Taylor(...) instead"
        )
    if isinstance(importance, Importance):
        return importance
    if callable(importance):
        return _FromCallable(importance)
    raise TypeError(f"importance must be a name, an Importance or a callable, got {importance!r}")


def weight_scores(importance: Importance, module: nn.Module, name: str) -> torch.Tensor:
    """Checked weight scores: same shape as the weight, finite."""
    scores = importance(module, name)
    shape = effective(module).shape
    if not isinstance(scores, torch.Tensor) or scores.shape != shape:
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(
            f"{importance!r} returned scores of shape {got} for layer {name!r}, "
            f"expected {tuple(shape)}"
        )
    scores = scores.detach()
    if not torch.isfinite(scores).all():
        raise ValueError(f"{importance!r} returned non-finite scores for layer {name!r}")
    return scores


def channel_scores(importance: Importance, module: nn.Module, name: str) -> torch.Tensor:
    """Checked channel scores: shape ``(out,)``, finite."""
    scores = importance.channels(module, name)
    out_channels = effective(module).shape[0]
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (out_channels,):
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(
            f"{importance!r} returned channel scores of shape {got} for layer {name!r}, "
            f"expected ({out_channels},)"
        )
    scores = scores.detach().to(torch.float64)
    if not torch.isfinite(scores).all():
        raise ValueError(f"{importance!r} returned non-finite channel scores for layer {name!r}")
    return scores


__all__ = [
    "IMPORTANCE_NAMES",
    "Importance",
    "Magnitude",
    "Random",
    "SynFlow",
    "SynFlowNet",
    "Taylor",
    "channel_scores",
    "resolve",
    "weight_scores",
]
