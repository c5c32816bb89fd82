"""Lower a torch.fx graph to sparse_rt graph nodes (docs/format.md §3, §5).

The result keeps each weighted layer's effective weight (masks applied, batch norm folded) as a
numpy array in torch's layout; the storage format is chosen afterwards (choose.py).
"""

from __future__ import annotations

import operator
import os
import traceback
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from . import SUPPORTED_OPS
from .errors import UnsupportedOpError


@dataclass
class Layer:
    """A conv2d or linear node whose weight storage is still to be chosen."""

    node: dict                 # the document node (without "weight")
    weight: np.ndarray         # torch layout: (O, I/g, kh, kw) or (M, K), float32
    bias: np.ndarray | None
    input_shape: tuple         # per-sample input shape, e.g. (C, H, W)


@dataclass
class Lowered:
    inputs: list[dict]
    outputs: list[dict]
    nodes: list[dict]
    layers: dict[str, Layer] = field(default_factory=dict)   # node name -> Layer
    extra_tensors: dict[str, np.ndarray] = field(default_factory=dict)
    graph_module: torch.fx.GraphModule | None = None


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def effective_param(module: nn.Module, name: str):
    """A parameter with any torch.nn.utils.prune mask applied (``<name>_orig * <name>_mask``)."""
    orig = getattr(module, name + "_orig", None)
    mask = getattr(module, name + "_mask", None)
    if orig is not None and mask is not None:
        return (orig * mask).detach()
    p = getattr(module, name, None)
    return None if p is None else p.detach()


def _np(t) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)


def _pair(v) -> list[int]:
    if isinstance(v, (tuple, list)):
        return [int(v[0]), int(v[1])]
    return [int(v), int(v)]


def _where(node) -> str:
    return node.meta.get("sparse_rt_where", "unknown location")


def _unsupported(node, why: str) -> UnsupportedOpError:
    target = node.target if isinstance(node.target, str) else getattr(
        node.target, "__qualname__", repr(node.target))
    supported = "\n  - ".join(SUPPORTED_OPS)
    return UnsupportedOpError(
        f"cannot export node '{node.name}' ({node.op} {target}): {why}\n"
        f"  from: {_where(node)}\n"
        f"supported operations:\n  - {supported}")


def _shape(node) -> tuple:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise _unsupported(node, "its output is not a single tensor")
    return tuple(int(d) for d in meta.shape)


_ACT_MODULES = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish",
                nn.Sigmoid: "sigmoid"}
_ACT_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6",
                  F.hardswish: "hardswish", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid"}
_ACT_METHODS = {"relu": "relu", "sigmoid": "sigmoid"}
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_CAT_FUNCTIONS = (torch.cat, torch.concat)
_SOFTMAX_FUNCTIONS = (F.softmax, torch.softmax)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout2d, nn.AlphaDropout)


# ------------------------------------------------------------------------------------------
# the lowering
# ------------------------------------------------------------------------------------------

class _Lowerer:
    def __init__(self, gm: torch.fx.GraphModule):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.value = {}        # fx node -> value name (aliases map to their source's value)
        self.producer = {}     # value name -> document node (dict) that writes it
        self.shape_only = set()
        self.nodes: list[dict] = []
        self.layers: dict[str, Layer] = {}
        self.extra: dict[str, np.ndarray] = {}
        self.used_names: set[str] = set()
        self.inputs: list[dict] = []
        self.outputs: list[dict] = []

    # -- naming -----------------------------------------------------------------------------
    def _node_name(self, base: str) -> str:
        base = base.replace("/", ".") or "node"
        if base.startswith("__"):
            base = "n" + base
        name, k = base, 1
        while name in self.used_names:
            name, k = f"{base}_{k}", k + 1
        self.used_names.add(name)
        return name

    def _in(self, node, arg):
        if not isinstance(arg, torch.fx.Node):
            raise _unsupported(node, f"argument {arg!r} is not a tensor produced by the graph")
        if arg in self.shape_only:
            raise _unsupported(node, f"uses the shape value '{arg.name}' as a tensor")
        return self.value[arg]

    def _emit(self, node, op, inputs, attrs=None, *, base=None) -> dict:
        doc = {"name": self._node_name(base or node.name), "op": op, "inputs": inputs,
               "outputs": [node.name], "attrs": attrs or {}}
        self.nodes.append(doc)
        self.value[node] = node.name
        self.producer[node.name] = doc
        return doc

    def _alias(self, node, src):
        self.value[node] = self._in(node, src)

    def _fuse_activation(self, node, act: str) -> bool:
        """Fold an activation into its producer (conv2d / linear / add) when it is the only user."""
        src = node.args[0] if node.args else None
        if not isinstance(src, torch.fx.Node) or src in self.shape_only or src not in self.value:
            return False
        doc = self.producer.get(self.value[src])
        if (doc is None or doc["op"] not in ("conv2d", "linear", "add")
                or doc["attrs"].get("activation", "none") != "none" or len(src.users) != 1
                or doc["outputs"][0] != self.value[src]):
            return False
        doc["attrs"]["activation"] = act
        del self.producer[doc["outputs"][0]]
        doc["outputs"] = [node.name]
        self.value[node] = node.name
        self.producer[node.name] = doc
        return True

    def _activation(self, node, act: str):
        if not self._fuse_activation(node, act):
            self._emit(node, act, [self._in(node, node.args[0])])

    # -- modules ----------------------------------------------------------------------------
    def _conv(self, node, m: nn.Conv2d):
        if m.padding_mode != "zeros":
            raise _unsupported(node, f"padding_mode={m.padding_mode!r} (only 'zeros')")
        x_shape = _shape(node.args[0])
        kh, kw = _pair(m.kernel_size)
        dh, dw = _pair(m.dilation)
        if isinstance(m.padding, str):
            if m.padding == "valid":
                pad = [0, 0, 0, 0]
            else:  # 'same' (stride 1): torch puts the extra pixel at the end
                th, tw = dh * (kh - 1), dw * (kw - 1)
                pad = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
        else:
            ph, pw = _pair(m.padding)
            pad = [ph, pw, ph, pw]
        weight = effective_param(m, "weight")
        bias = effective_param(m, "bias") if m.bias is not None else None
        attrs = {"in_channels": m.in_channels, "out_channels": m.out_channels,
                 "kernel": [kh, kw], "stride": _pair(m.stride), "padding": pad,
                 "dilation": [dh, dw], "groups": m.groups, "bias": bias is not None}
        doc = self._emit(node, "conv2d", [self._in(node, node.args[0])], attrs, base=node.target)
        self.layers[doc["name"]] = Layer(doc, _np(weight), None if bias is None else _np(bias),
                                         x_shape[1:])

    def _linear(self, node, m: nn.Linear):
        x_shape = _shape(node.args[0])
        if len(x_shape) != 2:
            raise _unsupported(node, f"nn.Linear on a rank-{len(x_shape)} input (only 2-D)")
        weight = effective_param(m, "weight")
        bias = effective_param(m, "bias") if m.bias is not None else None
        attrs = {"in_features": m.in_features, "out_features": m.out_features,
                 "bias": bias is not None}
        doc = self._emit(node, "linear", [self._in(node, node.args[0])], attrs, base=node.target)
        self.layers[doc["name"]] = Layer(doc, _np(weight), None if bias is None else _np(bias),
                                         x_shape[1:])

    def _batch_norm(self, node, m: nn.BatchNorm2d):
        if not m.track_running_stats or m.running_mean is None:
            raise _unsupported(node, "BatchNorm2d without running statistics")
        mean = m.running_mean.detach().double()
        var = m.running_var.detach().double()
        gamma = effective_param(m, "weight").double() if m.affine else torch.ones_like(mean)
        beta = effective_param(m, "bias").double() if m.affine else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + m.eps)
        shift = beta - mean * scale
        src = node.args[0]
        doc = self.producer.get(self.value.get(src)) if isinstance(src, torch.fx.Node) else None
        if (doc is not None and doc["op"] == "conv2d" and len(src.users) == 1
                and doc["attrs"].get("activation", "none") == "none"):
            layer = self.layers[doc["name"]]
            w = torch.from_numpy(layer.weight).double()
            b = torch.from_numpy(layer.bias).double() if layer.bias is not None else 0.0
            layer.weight = _np(w * scale.view(-1, 1, 1, 1))
            layer.bias = _np(b * scale + shift)
            doc["attrs"]["bias"] = True
            doc.setdefault("layer_info", {})["folded_batch_norm"] = str(node.target)
            del self.producer[doc["outputs"][0]]
            doc["outputs"] = [node.name]
            self.value[node] = node.name
            self.producer[node.name] = doc
            return
        bn = self._emit(node, "batch_norm", [self._in(node, src)],
                        {"channels": m.num_features, "form": "scale_shift"}, base=node.target)
        self.extra[f"{bn['name']}.scale"] = _np(scale)
        self.extra[f"{bn['name']}.shift"] = _np(shift)

    def _pool(self, node, op, kernel, stride, padding, *, dilation=1, ceil_mode=False,
              count_include_pad=True, divisor_override=None):
        if divisor_override is not None:
            raise _unsupported(node, "avg_pool2d with divisor_override")
        ph, pw = _pair(padding)
        attrs = {"kernel": _pair(kernel), "stride": _pair(stride if stride else kernel),
                 "padding": [ph, pw, ph, pw], "ceil_mode": bool(ceil_mode)}
        if op == "max_pool2d":
            attrs["dilation"] = _pair(dilation)
        else:
            attrs["count_include_pad"] = bool(count_include_pad)
        self._emit(node, op, [self._in(node, node.args[0])], attrs)

    def _global_pool(self, node, output_size):
        if _pair(output_size) != [1, 1]:
            raise _unsupported(node, f"adaptive average pooling to {output_size} (only 1)")
        self._emit(node, "global_avg_pool", [self._in(node, node.args[0])])

    def _flatten(self, node, start_dim=1, end_dim=-1):
        rank = len(_shape(node.args[0]))
        if start_dim % rank != 1 or end_dim % rank != rank - 1:
            raise _unsupported(node, f"flatten({start_dim}, {end_dim}) (only from dim 1 to the end)")
        self._emit(node, "flatten", [self._in(node, node.args[0])])

    def _reshape(self, node):
        src = node.args[0]
        in_shape, out_shape = _shape(src), _shape(node)
        if out_shape[0] != in_shape[0]:
            raise _unsupported(node, f"reshape {in_shape} -> {out_shape} changes the batch dim")
        if len(out_shape) < 2:
            raise _unsupported(node, f"reshape to {out_shape} drops the per-sample dims")
        self._emit(node, "reshape", [self._in(node, src)], {"shape": list(out_shape[1:])})

    def _softmax(self, node, dim):
        rank = len(_shape(node))
        if dim is None or dim % rank == 0:
            raise _unsupported(node, f"softmax over dim {dim} (the batch)")
        self._emit(node, "softmax", [self._in(node, node.args[0])], {"axis": int(dim % rank)})

    def _add(self, node, a, b, alpha=1):
        if alpha != 1:
            raise _unsupported(node, f"add with alpha={alpha}")
        if not (isinstance(a, torch.fx.Node) and isinstance(b, torch.fx.Node)):
            raise _unsupported(node, "add with a constant (only tensor + tensor)")
        if _shape(a) != _shape(b):
            raise _unsupported(node, f"add with broadcasting {_shape(a)} + {_shape(b)}")
        self._emit(node, "add", [self._in(node, a), self._in(node, b)])

    def _cat(self, node, tensors, dim=0):
        rank = len(_shape(node))
        if dim % rank != 1:
            raise _unsupported(node, f"cat along dim {dim} (only channels, dim 1)")
        self._emit(node, "concat", [self._in(node, t) for t in tensors], {"axis": 1})

    # -- dispatch ---------------------------------------------------------------------------
    def call_module(self, node):
        m = self.modules[node.target]
        args, kw = node.args, node.kwargs
        if isinstance(m, nn.Conv2d):
            return self._conv(node, m)
        if isinstance(m, nn.Linear):
            return self._linear(node, m)
        if isinstance(m, nn.BatchNorm2d):
            return self._batch_norm(node, m)
        for cls, act in _ACT_MODULES.items():
            if type(m) is cls:
                return self._activation(node, act)
        if isinstance(m, _DROPOUT_MODULES) or type(m) is nn.Identity:
            return self._alias(node, args[0])
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise _unsupported(node, "MaxPool2d(return_indices=True)")
            return self._pool(node, "max_pool2d", m.kernel_size, m.stride, m.padding,
                              dilation=m.dilation, ceil_mode=m.ceil_mode)
        if isinstance(m, nn.AvgPool2d):
            return self._pool(node, "avg_pool2d", m.kernel_size, m.stride, m.padding,
                              ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad,
                              divisor_override=m.divisor_override)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self._global_pool(node, m.output_size)
        if isinstance(m, nn.Flatten):
            return self._flatten(node, m.start_dim, m.end_dim)
        if isinstance(m, nn.Softmax):
            return self._softmax(node, m.dim)
        raise _unsupported(node, f"module type {type(m).__module__}.{type(m).__qualname__}")

    def call_function(self, node):
        fn, args, kw = node.target, node.args, dict(node.kwargs)
        if fn in _ACT_FUNCTIONS:
            if kw.get("inplace") or (len(args) > 1 and args[1] is True):
                pass  # in-place is irrelevant to the graph
            return self._activation(node, _ACT_FUNCTIONS[fn])
        if fn in _ADD_FUNCTIONS:
            return self._add(node, args[0], args[1], kw.get("alpha", 1))
        if fn in _CAT_FUNCTIONS:
            return self._cat(node, args[0], args[1] if len(args) > 1 else kw.get("dim", 0))
        if fn is torch.flatten:
            return self._flatten(node, *(args[1:] or [kw.get("start_dim", 0)]),
                                 **({"end_dim": kw["end_dim"]} if "end_dim" in kw else {}))
        if fn in (F.dropout, F.dropout2d):
            return self._alias(node, args[0])
        if fn is F.max_pool2d:
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
            p = {**dict(zip(names, args[1:])), **kw}
            if p.get("return_indices"):
                raise _unsupported(node, "max_pool2d(return_indices=True)")
            return self._pool(node, "max_pool2d", p["kernel_size"], p.get("stride"),
                              p.get("padding", 0), dilation=p.get("dilation", 1),
                              ceil_mode=p.get("ceil_mode", False))
        if fn is F.avg_pool2d:
            names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override")
            p = {**dict(zip(names, args[1:])), **kw}
            return self._pool(node, "avg_pool2d", p["kernel_size"], p.get("stride"),
                              p.get("padding", 0), ceil_mode=p.get("ceil_mode", False),
                              count_include_pad=p.get("count_include_pad", True),
                              divisor_override=p.get("divisor_override"))
        if fn is F.adaptive_avg_pool2d:
            return self._global_pool(node, args[1] if len(args) > 1 else kw["output_size"])
        if fn in _SOFTMAX_FUNCTIONS:
            return self._softmax(node, args[1] if len(args) > 1 else kw.get("dim"))
        if fn in (getattr, operator.getitem) and isinstance(args[0], torch.fx.Node) and (
                args[0] in self.shape_only or fn is getattr and args[1] == "shape"):
            self.shape_only.add(node)
            return None
        raise _unsupported(node, "function not supported")

    def call_method(self, node):
        name, args, kw = node.target, node.args, dict(node.kwargs)
        if name in _ACT_METHODS:
            return self._activation(node, _ACT_METHODS[name])
        if name in ("relu_",):
            return self._activation(node, "relu")
        if name in ("add", "add_"):
            return self._add(node, args[0], args[1], kw.get("alpha", 1))
        if name == "flatten":
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            return self._flatten(node, start, end)
        if name in ("view", "reshape"):
            return self._reshape(node)
        if name == "size":
            self.shape_only.add(node)
            return None
        if name == "contiguous":
            return self._alias(node, args[0])
        if name == "softmax":
            return self._softmax(node, args[1] if len(args) > 1 else kw.get("dim"))
        raise _unsupported(node, f"tensor method .{name}() not supported")

    def run(self, example_input: torch.Tensor) -> Lowered:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                shape = _shape(node)
                self.inputs.append({"name": node.name, "shape": [None, *shape[1:]],
                                    "dtype": "f32"})
                self.value[node] = node.name
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op == "call_function":
                self.call_function(node)
            elif node.op == "call_method":
                self.call_method(node)
            elif node.op == "output":
                outs = node.args[0]
                outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
                for o in outs:
                    value = self._in(node, o)
                    shape = _shape(o)
                    self.outputs.append({"name": value, "shape": [None, *shape[1:]],
                                         "dtype": "f32"})
            elif node.op == "get_attr":
                raise _unsupported(node, "the model reads a parameter or buffer directly "
                                         "(only through supported modules)")
            else:  # pragma: no cover - fx has no other node kinds
                raise _unsupported(node, f"fx node kind {node.op}")
        for node in self.shape_only:
            for user in node.users:
                if not (user.op == "call_method" and user.target in ("view", "reshape", "size")
                        or user in self.shape_only):
                    raise _unsupported(user, f"computes with the shape value '{node.name}'")
        return Lowered(self.inputs, self.outputs, self.nodes, self.layers, self.extra, self.gm)


_TORCH_DIR = os.path.dirname(torch.__file__)
_EXPORTER_DIR = os.path.dirname(os.path.abspath(__file__))


class _Tracer(torch.fx.Tracer):
    """Records, for each node, the innermost line of the user's code that created it."""

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        for frame in reversed(traceback.extract_stack()):
            f = os.path.abspath(frame.filename)
            if not (f.startswith(_TORCH_DIR) or f.startswith(_EXPORTER_DIR)):
                node.meta["sparse_rt_where"] = (f'File "{frame.filename}", line {frame.lineno}, '
                                                f"in {frame.name}: {frame.line}")
                break
        return node


def trace(model: nn.Module) -> torch.fx.GraphModule:
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # fx raises TraceError / TypeError / AttributeError for data-dependent code
        raise UnsupportedOpError(
            f"torch.fx could not trace {type(model).__qualname__}: {e}\n"
            "sparse_rt.export needs a model whose forward has no data-dependent control flow."
        ) from e
    return torch.fx.GraphModule(model, graph)


def lower(model: nn.Module, example_input: torch.Tensor) -> Lowered:
    """Trace ``model`` (already in eval mode) and lower it; shapes come from ``example_input``."""
    gm = trace(model)
    with torch.no_grad():
        ShapeProp(gm).propagate(example_input)
    return _Lowerer(gm).run(example_input)
