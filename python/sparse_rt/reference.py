"""A numpy reference executor for sparse_rt model files: the oracle for the C++ executor.

Written to be obviously correct rather than fast.  Every op follows docs/format.md §5 to the
letter; each op computes in float64 and rounds its output to float32 (the runtime keeps
activations in float32 between ops).  Convolution is an explicit im2col followed by a matmul
per group; sparse weights are expanded to their dense matrix first, so the executor itself is
storage-agnostic.

    run_reference(model_or_path, x)                # one input ndarray -> the output ndarray
    run_reference(model_or_path, {"x": x})         # dict in -> dict of outputs
    run_reference(model_or_path, x, intermediates=True)  # dict of every value in the graph
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from .format import ModelFile, NodeSpec, read_model

__all__ = ["run_reference", "apply_activation"]


def apply_activation(x: np.ndarray, act: str) -> np.ndarray:
    """The activations of §5.1 (float64 in, float64 out)."""
    if act == "none":
        return x
    if act == "relu":
        return np.maximum(x, 0.0)
    if act == "relu6":
        return np.minimum(np.maximum(x, 0.0), 6.0)
    if act == "hardswish":
        return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0
    if act == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))
    raise ValueError(f"unknown activation {act!r}")


def _windows(xp: np.ndarray, kh, kw, sh, sw, dh, dw, ho, wo):
    """All kernel taps of a padded (N, C, Hp, Wp) array: shape (N, C, kh, kw, ho, wo)."""
    n, c = xp.shape[:2]
    out = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                                 j * dw:j * dw + sw * (wo - 1) + 1:sw]
    return out


def _pad_to(x, pt, pl, need_h, need_w, value):
    """Pad (N, C, H, W) with `pt` rows/`pl` cols in front and enough behind to reach need_h x
    need_w (at least the declared bottom/right padding is supplied by the caller via need_*)."""
    n, c, h, w = x.shape
    hp, wp = max(need_h, pt + h), max(need_w, pl + w)
    xp = np.full((n, c, hp, wp), value, dtype=x.dtype)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    return xp


def _conv2d(node: NodeSpec, x: np.ndarray, w2d: np.ndarray, bias) -> np.ndarray:
    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    pt, pl, pb, pr = a["padding"]
    dh, dw = a["dilation"]
    g = a["groups"]
    _, cout, ho, wo = node.output_shape
    n, cin, h, w = x.shape
    xp = _pad_to(x, pt, pl, h + pt + pb, w + pl + pr, 0.0)
    cols = _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo)  # (N, Cin, kh, kw, ho, wo)
    cg = cin // g
    # column index of the weight matrix = (ci * kh + i) * kw + j within the group (§4.2)
    cols = cols.reshape(n, g, cg * kh * kw, ho * wo)
    wg = w2d.astype(np.float64).reshape(g, cout // g, cg * kh * kw)
    y = np.matmul(wg[None], cols)  # (N, g, cout/g, ho*wo)
    y = y.reshape(n, cout, ho, wo)
    if bias is not None:
        y = y + bias.astype(np.float64)[None, :, None, None]
    return apply_activation(y, a["activation"])


def _max_pool2d(node: NodeSpec, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    pt, pl, pb, pr = a["padding"]
    dh, dw = a["dilation"]
    _, _, ho, wo = node.output_shape
    need_h = (ho - 1) * sh + dh * (kh - 1) + 1  # ceil_mode windows may pass the padding
    need_w = (wo - 1) * sw + dw * (kw - 1) + 1
    xp = _pad_to(x, pt, pl, need_h, need_w, -np.inf)
    return _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo).max(axis=(2, 3))


def _avg_divisors(size, k, s, p0, p1, out, count_include_pad):
    """Per-output-position divisor along one axis (§5.2 avg_pool2d)."""
    start = np.arange(out) * s - p0
    end = np.minimum(start + k, size + p1)
    pool = end - start  # includes padding, excludes what lies past the trailing padding
    valid = np.minimum(end, size) - np.maximum(start, 0)
    return pool if count_include_pad else valid


def _avg_pool2d(node: NodeSpec, x: np.ndarray) -> np.ndarray:
    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    pt, pl, pb, pr = a["padding"]
    _, _, ho, wo = node.output_shape
    n, c, h, w = x.shape
    xp = _pad_to(x, pt, pl, (ho - 1) * sh + kh, (wo - 1) * sw + kw, 0.0)
    s = _windows(xp, kh, kw, sh, sw, 1, 1, ho, wo).sum(axis=(2, 3))
    inc = a["count_include_pad"]
    dv = _avg_divisors(h, kh, sh, pt, pb, ho, inc)[:, None] * \
        _avg_divisors(w, kw, sw, pl, pr, wo, inc)[None, :]
    return s / dv


def _batch_norm(node: NodeSpec, x: np.ndarray, t: Mapping[str, np.ndarray]) -> np.ndarray:
    p = {k: np.asarray(t[v], dtype=np.float64) for k, v in node.params.items()}
    if node.attrs["form"] == "stats":
        scale = p["gamma"] / np.sqrt(p["var"] + node.attrs["eps"])
        shift = p["beta"] - p["mean"] * scale
    else:
        scale, shift = p["scale"], p["shift"]
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    return x * scale.reshape(bshape) + shift.reshape(bshape)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _run_node(node: NodeSpec, args, model: ModelFile):
    op, a, t = node.op, node.attrs, model.tensors
    bias = t[node.params["bias"]] if "bias" in node.params else None
    if op == "conv2d":
        return _conv2d(node, args[0], model.dense_weight(node.name), bias)
    if op == "linear":
        y = args[0] @ model.dense_weight(node.name).astype(np.float64).T
        if bias is not None:
            y = y + bias.astype(np.float64)
        return apply_activation(y, a["activation"])
    if op == "batch_norm":
        return _batch_norm(node, args[0], t)
    if op in ("relu", "relu6", "hardswish", "sigmoid"):
        return apply_activation(args[0], op)
    if op == "identity":
        return args[0]
    if op == "add":
        return apply_activation(args[0] + args[1], a["activation"])
    if op == "concat":
        return np.concatenate(args, axis=1)
    if op == "max_pool2d":
        return _max_pool2d(node, args[0])
    if op == "avg_pool2d":
        return _avg_pool2d(node, args[0])
    if op == "global_avg_pool":
        return args[0].mean(axis=(2, 3), keepdims=True)
    if op in ("flatten", "reshape"):
        return args[0].reshape((args[0].shape[0],) + node.output_shape[1:])
    if op == "softmax":
        return _softmax(args[0], a["axis"])
    raise NotImplementedError(op)  # unreachable: the reader rejects unknown ops


def run_reference(model, inputs, *, intermediates: bool = False):
    """Run a model file on numpy inputs.

    ``model`` is a :class:`~sparse_rt.format.ModelFile` or a path.  ``inputs`` is one array
    (models with one input) or a dict from input name to array; arrays are converted to
    float32 and their shapes checked against the model (``ValueError`` names the expected
    shape).  Returns the single output array when given a single array and the model has one
    output; otherwise a dict from output name to float32 array.  With ``intermediates=True``
    returns a dict of every value of the graph (inputs and every node output) instead.
    """
    if isinstance(model, (str, os.PathLike)):
        model = read_model(model)
    in_specs = model.inputs
    single = not isinstance(inputs, Mapping)
    if single:
        if len(in_specs) != 1:
            raise ValueError(f"the model has {len(in_specs)} inputs"
                             f" ({', '.join(n for n, _ in in_specs)}): pass a dict")
        inputs = {in_specs[0][0]: inputs}
    values: dict[str, np.ndarray] = {}
    batch = None
    for name, shape in in_specs:
        if name not in inputs:
            raise ValueError(f"missing input {name!r}")
        x = np.asarray(inputs[name], dtype=np.float32)
        want = "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
        if x.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, x.shape)):
            raise ValueError(f"input {name!r} has shape {list(x.shape)}, expected {want}")
        if batch is not None and x.shape[0] != batch:
            raise ValueError(f"input {name!r} has batch {x.shape[0]}, other inputs have {batch}")
        batch = x.shape[0]
        values[name] = x
    extra = set(inputs) - {n for n, _ in in_specs}
    if extra:
        raise ValueError(f"unknown input(s) {sorted(extra)}")

    for node in model.nodes:
        args = [values[v].astype(np.float64) for v in node.inputs]
        with np.errstate(invalid="ignore"):  # NaN/inf inputs propagate as in the runtime
            y = _run_node(node, args, model)
        values[node.outputs[0]] = np.ascontiguousarray(y, dtype=np.float32)

    if intermediates:
        return values
    outs = {name: values[name] for name, _ in model.outputs}
    if single and len(outs) == 1:
        return next(iter(outs.values()))
    return outs
