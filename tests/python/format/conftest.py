"""Shared helpers for the model-file tests: graph builders and a writer that skips validation.

The suite runs with ``--import-mode=importlib``, so test modules cannot import this file: the
helpers are handed out by the ``fh`` fixture (``fh.small_cnn()``, ``fh.build_file(...)``...).
"""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from sparse_rt.format import ALIGNMENT, encode_weight


def io(name, shape):
    return {"name": name, "shape": list(shape), "dtype": "f32"}


def doc(inputs, outputs, nodes):
    return {"format": "sparse_rt", "format_version": 1, "producer": {"name": "tests"},
            "inputs": inputs, "outputs": outputs, "nodes": nodes}


def dtype_code(a):
    return {"f": "F32", "i": "I32", "u": "U16" if a.dtype.itemsize == 2 else "U8"}[a.dtype.kind]


def build_file(doc_obj, tensors, *, align=True, header_extra=None):
    """A model file as bytes, laid out like write_model but without any validation."""
    header = {"__metadata__": {"sparse_rt": json.dumps(doc_obj)}}
    chunks, pos, npad = [], 0, 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        pad = -pos % ALIGNMENT if align else 0
        if pad:
            header[f"__pad_{npad}__"] = {"dtype": "U8", "shape": [pad],
                                         "data_offsets": [pos, pos + pad]}
            chunks.append(bytes(pad))
            npad += 1
            pos += pad
        header[name] = {"dtype": dtype_code(a), "shape": list(a.shape),
                        "data_offsets": [pos, pos + a.nbytes]}
        chunks.append(a.tobytes())
        pos += a.nbytes
    if header_extra:
        header_extra(header)
    h = json.dumps(header).encode()
    if align:
        h += b" " * (-(8 + len(h)) % ALIGNMENT)
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def split_file(raw: bytes):
    """(header dict, data buffer bytes) of a file."""
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_file(header: dict, data: bytes, *, align=True) -> bytes:
    h = json.dumps(header).encode()
    if align:
        h += b" " * (-(8 + len(h)) % ALIGNMENT)
    return struct.pack("<Q", len(h)) + h + data


def small_cnn(seed=0, index_dtype=np.int32):
    """A small graph using dense, CSR and BSR weights, batch norm, a residual and a concat.

    Returns (doc, tensors). Input x: [N, 3, 9, 7]; output y: [N, 10].
    """
    rng = np.random.default_rng(seed)

    def sparse(shape, density):
        w = rng.standard_normal(shape).astype(np.float32)
        w[rng.random(shape) > density] = 0
        return w

    t = {}
    w_c1 = sparse((8, 3, 3, 3), 0.4)
    t.update(encode_weight("c1", w_c1, "csr", index_dtype=index_dtype))
    t["c1.bias"] = rng.standard_normal(8).astype(np.float32)
    w_c2 = sparse((8, 8, 3, 3), 0.5)
    w_c2.reshape(8, -1)[:, :8] = 0  # whole zero 4x8 blocks too
    t.update(encode_weight("c2", w_c2, "bsr", blocksize=(4, 8), index_dtype=index_dtype))
    for k in ("mean", "gamma", "beta"):
        t[f"bn.{k}"] = rng.standard_normal(8).astype(np.float32)
    t["bn.var"] = rng.random(8).astype(np.float32) + 0.5
    w_dw = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    t.update(encode_weight("dw", w_dw, "dense"))
    w_fc = sparse((10, 16), 0.5)
    t.update(encode_weight("fc", w_fc, "bsr", blocksize=(2, 4), index_dtype=index_dtype))
    t["fc.bias"] = rng.standard_normal(10).astype(np.float32)
    nodes = [
        {"name": "c1", "op": "conv2d", "inputs": ["x"], "outputs": ["h1"],
         "attrs": {"in_channels": 3, "out_channels": 8, "kernel": [3, 3], "stride": [2, 1],
                   "padding": [1, 0, 1, 2], "bias": True, "activation": "relu"},
         "weight": {"format": "csr", "shape": [8, 27]},
         "layer_info": {"reason": "test", "timings_ms": {"dense": 0.1, "csr": 0.05}}},
        {"name": "c2", "op": "conv2d", "inputs": ["h1"], "outputs": ["h2"],
         "attrs": {"in_channels": 8, "out_channels": 8, "kernel": [3, 3], "padding": [1, 1]},
         "weight": {"format": "bsr", "shape": [8, 72], "blocksize": [4, 8]}},
        {"name": "bn", "op": "batch_norm", "inputs": ["h2"], "outputs": ["h3"],
         "attrs": {"channels": 8, "eps": 1e-3}},
        {"name": "res", "op": "add", "inputs": ["h3", "h1"], "outputs": ["h4"],
         "attrs": {"activation": "relu"}},
        {"name": "dw", "op": "conv2d", "inputs": ["h4"], "outputs": ["h5"],
         "attrs": {"in_channels": 8, "out_channels": 8, "kernel": [3, 3], "groups": 8,
                   "padding": [1, 1], "activation": "hardswish"},
         "weight": {"format": "dense", "shape": [8, 9]}},
        {"name": "cat", "op": "concat", "inputs": ["h4", "h5"], "outputs": ["h6"]},
        {"name": "pool", "op": "max_pool2d", "inputs": ["h6"], "outputs": ["h7"],
         "attrs": {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "ceil_mode": True}},
        {"name": "gap", "op": "global_avg_pool", "inputs": ["h7"], "outputs": ["h8"]},
        {"name": "flat", "op": "flatten", "inputs": ["h8"], "outputs": ["h9"]},
        {"name": "fc", "op": "linear", "inputs": ["h9"], "outputs": ["y"],
         "attrs": {"in_features": 16, "out_features": 10, "bias": True},
         "weight": {"format": "bsr", "shape": [10, 16], "blocksize": [2, 4]}},
    ]
    d = doc([io("x", [None, 3, 9, 7])], [io("y", [None, 10])], nodes)
    d["metadata"] = {"exporter": {"note": "unit test"}}
    dense = {"c1": w_c1, "c2": w_c2, "dw": w_dw, "fc": w_fc}
    return d, t, dense


@pytest.fixture
def cnn():
    return small_cnn()


@pytest.fixture
def fh():
    return SimpleNamespace(io=io, doc=doc, build_file=build_file, split_file=split_file,
                           join_file=join_file, small_cnn=small_cnn)
