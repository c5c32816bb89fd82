"""Channel dependencies of a model, found by tracing it with torch.fx.

Every channel a conv or linear layer produces is a *slot*. Slots flow through the traced graph
(batch-norm, activations, pooling and dropout keep them; ``cat`` along channels concatenates
them; ``flatten`` repeats each channel's slot once per spatial position); tensors combined
element-wise (``+``, ``-``, ``*``, e.g. a residual add) have their slots *coupled* (union-find),
because removing a channel on one side requires removing it on the other. Slots that reach the
model output, come from the input or a constant, or pass an op that would turn a zeroed channel
into something non-zero (sigmoid, adding a constant, softmax) are coupled to the special FIXED
slot and never removed. An op the walk does not understand raises
:class:`UnsupportedGraphError` naming the node: the graph is never silently misread.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from sparse_rt.prune._util import evaluating

FIXED = 0

# Element-wise (per channel) maps with f(0) == 0: a zeroed channel stays zero.
_ZERO_KEEPING_MODULES = (
    nn.ReLU, nn.ReLU6, nn.Hardswish, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh,
    nn.Identity, _DropoutNd, _MaxPoolNd, _AvgPoolNd, _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd,
)  # fmt: skip
# Element-wise with f(0) != 0: the channel can no longer be removed.
_NONZERO_MODULES = (nn.Sigmoid, nn.Hardsigmoid, nn.Softplus)
# Mix channels (normalise across them): every channel is needed.
_MIXING_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)

_ZERO_KEEPING_FUNCTIONS = {
    torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.hardswish, F.leaky_relu, F.elu, F.gelu,
    F.silu, F.mish, torch.tanh, F.tanh, F.dropout, F.dropout2d, F.max_pool1d, F.max_pool2d,
    F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d, F.adaptive_max_pool2d,
    F.adaptive_max_pool3d, torch.max_pool2d, torch.avg_pool1d, torch.adaptive_avg_pool1d,
}  # fmt: skip
_NONZERO_FUNCTIONS = {torch.sigmoid, F.sigmoid, F.hardsigmoid, torch.exp, F.softplus}
_MIXING_FUNCTIONS = {torch.softmax, F.softmax, torch.log_softmax, F.log_softmax}
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub}
_MUL_FUNCTIONS = {operator.mul, operator.imul, torch.mul}
_DIV_FUNCTIONS = {operator.truediv, operator.itruediv, torch.div}
_CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}

_ZERO_KEEPING_METHODS = {"relu", "relu_", "tanh", "contiguous", "clone", "detach", "float", "to"}
_NONZERO_METHODS = {"sigmoid", "sigmoid_", "exp"}
_MIXING_METHODS = {"softmax", "log_softmax"}
_ADD_METHODS = {"add", "add_", "sub", "sub_"}
_MUL_METHODS = {"mul", "mul_"}
_DIV_METHODS = {"div", "div_"}


class UnsupportedGraphError(ValueError):
    """The model contains a node whose effect on channels cannot be followed."""


@dataclass
class Role:
    """A module's tensor dimension indexed by channel slots.

    ``kind`` is "out" (output channels of a conv / output features of a linear layer: the
    producer), "in" (input channels / features), "dw" (the channels of a depthwise conv, whose
    input and output channels are the same) or "bn" (batch-norm features).
    """

    module: str
    kind: str
    slots: list[int]


class ChannelGraph:
    """Slots, couplings and per-module roles of a traced model (see the module docstring)."""

    def __init__(self, model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        try:
            graph_module = fx.symbolic_trace(model)
        except Exception as error:  # fx raises many types; report them uniformly
            raise UnsupportedGraphError(
                f"torch.fx could not trace {type(model).__name__}: {error}"
            ) from error
        with evaluating(model):
            ShapeProp(graph_module).propagate(*inputs)
        self.modules = dict(graph_module.named_modules())
        self.parent = [FIXED]
        self.roles: list[Role] = []
        self._channels: dict[fx.Node, list[int] | None] = {}
        self._calls: Counter[str] = Counter()
        for node in graph_module.graph.nodes:
            self._channels[node] = self._visit(node)

    # ---- union-find over slots -------------------------------------------------------------
    def new_slots(self, count: int) -> list[int]:
        start = len(self.parent)
        self.parent.extend(range(start, start + count))
        return list(range(start, start + count))

    def find(self, slot: int) -> int:
        root = slot
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[slot] != root:
            self.parent[slot], slot = root, self.parent[slot]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if rb == self.find(FIXED):
            ra, rb = rb, ra
        self.parent[rb] = ra  # FIXED's root stays the root of anything joined to it

    def fix(self, slots: list[int] | None) -> None:
        for slot in slots or ():
            self.union(FIXED, slot)

    def is_fixed(self, slot: int) -> bool:
        return self.find(slot) == self.find(FIXED)

    # ---- the walk -------------------------------------------------------------------------
    def _visit(self, node: fx.Node) -> list[int] | None:
        shape = _shape(node)
        if node.op == "placeholder" or node.op == "get_attr":
            return _fixed(shape)
        if node.op == "output":
            for arg in _node_args(node):
                self.fix(self._channels.get(arg))
            return None
        if node.op == "call_module":
            return self._visit_module(node, self.modules[node.target], shape)
        if node.op == "call_function":
            return self._visit_function(node, node.target, shape)
        if node.op == "call_method":
            return self._visit_method(node, node.target, shape)
        raise UnsupportedGraphError(
            f"cannot follow channels through node {node.name!r} (op {node.op!r})"
        )

    def _input(self, node: fx.Node, index: int = 0) -> list[int] | None:
        arg = node.args[index] if len(node.args) > index else None
        return self._channels.get(arg) if isinstance(arg, fx.Node) else None

    def _visit_module(
        self, node: fx.Node, module: nn.Module, shape: tuple[int, ...] | None
    ) -> list[int] | None:
        name = str(node.target)
        inp = self._input(node)
        if isinstance(module, (_ConvNd, nn.Linear, _BatchNorm)):
            self._calls[name] += 1
            if self._calls[name] > 1:
                raise UnsupportedGraphError(
                    f"module {name!r} is called more than once (node {node.name!r}); "
                    "channel pruning "
                    "needs each conv, linear and batch-norm layer to be used once"
                )
        if isinstance(module, _ConvNd):
            if module.transposed:
                raise UnsupportedGraphError(
                    f"cannot follow channels through transposed conv node {node.name!r}"
                )
            if module.groups == 1:
                self.roles.append(Role(name, "in", _require(inp, node)))
                out = self.new_slots(module.out_channels)
                self.roles.append(Role(name, "out", out))
                return out
            if module.groups == module.in_channels == module.out_channels:
                slots = _require(inp, node)
                self.roles.append(Role(name, "dw", slots))
                return slots
            self.fix(inp)  # grouped conv: channels must stay divisible by groups; leave it alone
            return _fixed(shape)
        if isinstance(module, nn.Linear):
            in_shape = _shape(node.args[0])
            if in_shape is None or len(in_shape) != 2:
                raise UnsupportedGraphError(
                    f"cannot follow channels through linear node {node.name!r}: "
                    "its input has shape "
                    f"{in_shape}, only (batch, features) is supported"
                )
            self.roles.append(Role(name, "in", _require(inp, node)))
            out = self.new_slots(module.out_features)
            self.roles.append(Role(name, "out", out))
            return out
        if isinstance(module, _BatchNorm):
            slots = _require(inp, node)
            if not module.affine:
                self.fix(slots)  # a zeroed channel leaves a non-zero -mean/std behind
            self.roles.append(Role(name, "bn", slots))
            return slots
        if isinstance(module, nn.Hardtanh):  # also ReLU6
            if not module.min_val <= 0.0 <= module.max_val:
                self.fix(inp)
            return inp
        if isinstance(module, _ZERO_KEEPING_MODULES):
            return inp
        if isinstance(module, _NONZERO_MODULES + _MIXING_MODULES):
            self.fix(inp)
            return inp
        if isinstance(module, nn.Flatten):
            return self._flatten(node, node.args[0], module.start_dim, module.end_dim)
        raise UnsupportedGraphError(
            f"cannot follow channels through node {node.name!r}: module {name!r} of type "
            f"{type(module).__name__} is not supported"
        )

    def _visit_function(
        self, node: fx.Node, target: object, shape: tuple[int, ...] | None
    ) -> list[int] | None:
        if target in _ZERO_KEEPING_FUNCTIONS:
            return self._input(node)
        if target in _NONZERO_FUNCTIONS or target in _MIXING_FUNCTIONS:
            inp = self._input(node)
            self.fix(inp)
            return inp
        if target in _ADD_FUNCTIONS:
            return self._elementwise(node, shape, "add")
        if target in _MUL_FUNCTIONS:
            return self._elementwise(node, shape, "mul")
        if target in _DIV_FUNCTIONS:
            return self._elementwise(node, shape, "div")
        if target in _CAT_FUNCTIONS:
            return self._cat(node, shape)
        if target is torch.flatten:
            start = _arg(node, 1, "start_dim", 0)
            end = _arg(node, 2, "end_dim", -1)
            return self._flatten(node, node.args[0], start, end)
        if target is torch.reshape:
            return self._reshape(node, shape, _arg(node, 1, "shape", ()))
        return self._unknown(node, shape, getattr(target, "__name__", str(target)))

    def _visit_method(
        self, node: fx.Node, target: str, shape: tuple[int, ...] | None
    ) -> list[int] | None:
        if target in _ZERO_KEEPING_METHODS:
            return self._input(node)
        if target in _NONZERO_METHODS or target in _MIXING_METHODS:
            inp = self._input(node)
            self.fix(inp)
            return inp
        if target in _ADD_METHODS:
            return self._elementwise(node, shape, "add")
        if target in _MUL_METHODS:
            return self._elementwise(node, shape, "mul")
        if target in _DIV_METHODS:
            return self._elementwise(node, shape, "div")
        if target == "flatten":
            return self._flatten(
                node, node.args[0], _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
            )
        if target in ("view", "reshape"):
            sizes = node.args[1:]
            if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                sizes = tuple(sizes[0])
            return self._reshape(
                node, shape, sizes or node.kwargs.get("size", node.kwargs.get("shape", ()))
            )
        return self._unknown(node, shape, f".{target}()")

    # ---- op handlers ----------------------------------------------------------------------
    def _unknown(self, node: fx.Node, shape: tuple[int, ...] | None, what: str) -> list[int] | None:
        tensor_inputs = [a for a in _node_args(node) if _shape(a) is not None]
        if shape is None:
            return None  # a size, a dim, ...: no channels flow through it
        if not tensor_inputs:
            return _fixed(shape)  # a new tensor (torch.zeros, ...), unrelated to any channel
        raise UnsupportedGraphError(f"cannot follow channels through node {node.name!r} ({what})")

    def _elementwise(
        self, node: fx.Node, shape: tuple[int, ...] | None, kind: str
    ) -> list[int] | None:
        operands = list(node.args[:2])
        if "other" in node.kwargs:
            operands.append(node.kwargs["other"])
        tensors = [a for a in operands if isinstance(a, fx.Node) and _shape(a) is not None]
        others = [a for a in operands if a not in tensors]
        slot_lists = [self._channels.get(t) for t in tensors]
        if shape is None or len(shape) < 2:
            for slots in slot_lists:
                self.fix(slots)
            return None
        aligned = all(
            slots is not None and len(slots) == shape[1] and len(_shape(t) or ()) == len(shape)
            for t, slots in zip(tensors, slot_lists, strict=True)
        )
        # Zeroed channels must stay zero: x + c, c - x and x / y would make them non-zero.
        zero_safe = (
            aligned
            and not (kind == "add" and others)
            and not (kind == "div" and tensors[0] is not operands[0])
        )
        zero_safe = zero_safe and not (kind == "div" and len(tensors) > 1)
        if not zero_safe:
            for slots in slot_lists:
                self.fix(slots)
            return slot_lists[0] if aligned else _fixed(shape)
        first = slot_lists[0]
        for slots in slot_lists[1:]:
            for a, b in zip(first, slots, strict=True):
                self.union(a, b)
        return first

    def _cat(self, node: fx.Node, shape: tuple[int, ...] | None) -> list[int]:
        tensors = list(_arg(node, 0, "tensors", ()))
        dim = _arg(node, 1, "dim", 0)
        if shape is None or len(shape) < 2 or not all(isinstance(t, fx.Node) for t in tensors):
            raise UnsupportedGraphError(
                f"cannot follow channels through concatenation node {node.name!r}"
            )
        slot_lists = [_require(self._channels.get(t), node) for t in tensors]
        if dim % len(shape) == 1:
            return [slot for slots in slot_lists for slot in slots]
        for slots in slot_lists[1:]:
            for a, b in zip(slot_lists[0], slots, strict=True):
                self.union(a, b)
        return slot_lists[0]

    def _flatten(self, node: fx.Node, source: object, start: int, end: int) -> list[int] | None:
        in_shape = _shape(source)
        if in_shape is None:
            raise UnsupportedGraphError(
                f"cannot follow channels through flatten node {node.name!r}"
            )
        ndim = len(in_shape)
        start, end = start % ndim, end % ndim
        slots = self._channels.get(source)  # type: ignore[arg-type]
        if start == end or ndim < 2 or start >= 2:
            return slots
        if start == 0:
            raise UnsupportedGraphError(
                f"cannot follow channels through node {node.name!r}: "
                "it flattens the batch dimension"
            )
        positions = math.prod(in_shape[2 : end + 1])
        return [slot for slot in _require(slots, node) for _ in range(positions)]

    def _reshape(
        self, node: fx.Node, shape: tuple[int, ...] | None, sizes: object
    ) -> list[int] | None:
        source = node.args[0]
        in_shape = _shape(source)
        slots = self._channels.get(source)  # type: ignore[arg-type]
        if in_shape is None or shape is None:
            raise UnsupportedGraphError(
                f"cannot follow channels through reshape node {node.name!r}"
            )
        if len(in_shape) < 2:
            return _fixed(shape)
        literal = any(
            isinstance(size, int) and size != -1
            for size in list(sizes)[1:]  # type: ignore[call-overload]
        )
        result: list[int] | None = None
        if shape == in_shape:
            result = slots
        elif len(shape) >= 2 and shape[0] == in_shape[0]:
            for end in range(1, len(in_shape)):
                if (
                    shape[1] == math.prod(in_shape[1 : end + 1])
                    and shape[2:] == in_shape[end + 1 :]
                ):
                    positions = math.prod(in_shape[2 : end + 1])
                    result = [slot for slot in _require(slots, node) for _ in range(positions)]
                    break
            if (
                result is None
                and shape[1] == in_shape[1]
                and math.prod(shape[2:]) == math.prod(in_shape[2:])
            ):
                result = slots
        if result is None:
            raise UnsupportedGraphError(
                f"cannot follow channels through node {node.name!r}: reshape {in_shape} -> {shape} "
                "mixes the channel dimension with others"
            )
        if literal:
            self.fix(slots)  # a hard-coded size would break once channels are removed
        return result


def _shape(node: object) -> tuple[int, ...] | None:
    if not isinstance(node, fx.Node):
        return None
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def _fixed(shape: tuple[int, ...] | None) -> list[int] | None:
    if shape is None or len(shape) < 2:
        return None
    return [FIXED] * shape[1]


def _require(slots: list[int] | None, node: fx.Node) -> list[int]:
    if slots is None:
        raise UnsupportedGraphError(
            f"cannot follow channels through node {node.name!r}: its input has no channel dimension"
        )
    return slots


def _node_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def _arg(node: fx.Node, index: int, name: str, default: object) -> object:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


__all__ = ["FIXED", "ChannelGraph", "Role", "UnsupportedGraphError"]
