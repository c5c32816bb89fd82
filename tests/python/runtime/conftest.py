"""Helpers for the runtime tests (sparse_rt.load vs the numpy reference executor).

The suite runs with ``--import-mode=importlib``, so test modules get these helpers through the
``rt`` fixture (``rt.write(tmp_path, doc, tensors)``, ``rt.check(path, x)``, ...).
"""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import ALIGNMENT, encode_weight, write_model
from sparse_rt.reference import run_reference

RTOL, ATOL = 1e-4, 1e-5


def io(name, shape):
    return {"name": name, "shape": list(shape), "dtype": "f32"}


def doc(inputs, outputs, nodes):
    return {"format": "sparse_rt", "format_version": 1, "producer": {"name": "tests"},
            "inputs": inputs, "outputs": outputs, "nodes": nodes}


def sparse_weight(rng, shape, density):
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) > density] = 0
    return w


def bsr_blocksize(m, k, rows_per_group=None):
    """A blocksize that divides (m, k) (and a conv group's rows), preferring 2 x 4."""
    rg = rows_per_group or m
    r = next(r for r in (2, 1) if m % r == 0 and rg % r == 0)
    c = next(c for c in (4, 3, 2, 1) if k % c == 0)
    return r, c


def weight_tensors(name, w, fmt, *, groups=1, index_dtype=np.int32):
    """(tensors, descriptor) storing the torch-layout weight `w` of node `name` as `fmt`."""
    m = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    desc = {"format": fmt, "shape": [m, k]}
    bs = None
    if fmt == "bsr":
        bs = bsr_blocksize(m, k, m // groups)
        desc["blocksize"] = list(bs)
    return encode_weight(name, w, fmt, blocksize=bs, index_dtype=index_dtype), desc


def write(path, d, tensors):
    write_model(path, d, tensors)
    return path


def check(path, inputs, *, model=None, rtol=RTOL, atol=ATOL):
    """sparse_rt.load(path) output == run_reference output; returns the runtime's output."""
    m = model or sparse_rt.load(path)
    got = m(inputs)
    want = run_reference(path, inputs)
    if isinstance(want, dict):
        assert set(got) == set(want)
        for k in want:
            assert got[k].dtype == np.float32 and got[k].shape == want[k].shape, k
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)
    else:
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return got


def build_file(doc_obj, tensors, *, align=True):
    """A model file as bytes laid out like write_model, without any validation."""
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
        code = {"f": "F32", "i": "I32", "u": "U16" if a.dtype.itemsize == 2 else "U8"}
        header[name] = {"dtype": code[a.dtype.kind], "shape": list(a.shape),
                        "data_offsets": [pos, pos + a.nbytes]}
        chunks.append(a.tobytes())
        pos += a.nbytes
    h = json.dumps(header).encode()
    if align:
        h += b" " * (-(8 + len(h)) % ALIGNMENT)
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def split_file(raw: bytes):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_file(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % ALIGNMENT)
    return struct.pack("<Q", len(h)) + h + data


def tiny_net(seed=0, index_dtype=np.int32):
    """A small CNN with dense, CSR and BSR layers, an unfolded and a foldable batch norm, a
    residual add + ReLU, a depthwise conv, concat, pools and a linear head.
    Input x: [N, 3, 11, 9]; output y: [N, 10]. Returns (doc, tensors)."""
    rng = np.random.default_rng(seed)
    t = {}

    def conv(name, cin, cout, k, fmt, density, groups=1, bias=True):
        w = sparse_weight(rng, (cout, cin // groups, k, k), density)
        wt, desc = weight_tensors(name, w, fmt, groups=groups, index_dtype=index_dtype)
        t.update(wt)
        if bias:
            t[f"{name}.bias"] = rng.standard_normal(cout).astype(np.float32)
        return desc

    def bn(name, c):
        for k in ("mean", "gamma", "beta"):
            t[f"{name}.{k}"] = rng.standard_normal(c).astype(np.float32)
        t[f"{name}.var"] = (rng.random(c) + 0.5).astype(np.float32)

    d1 = conv("c1", 3, 8, 3, "dense", 1.0, bias=False)
    bn("bn1", 8)
    d2 = conv("c2", 8, 8, 3, "csr", 0.3)
    d3 = conv("c3", 8, 8, 3, "bsr", 0.6, bias=False)
    bn("bn3", 8)
    d4 = conv("dw", 8, 8, 3, "csr", 0.8, groups=8)
    w_fc = sparse_weight(rng, (10, 16), 0.5)
    wt, d5 = weight_tensors("fc", w_fc, "bsr", index_dtype=index_dtype)
    t.update(wt)
    t["fc.bias"] = rng.standard_normal(10).astype(np.float32)
    conv_attrs = {"in_channels": 8, "out_channels": 8, "kernel": [3, 3], "padding": [1, 1]}
    nodes = [
        {"name": "c1", "op": "conv2d", "inputs": ["x"], "outputs": ["a1"],
         "attrs": {"in_channels": 3, "out_channels": 8, "kernel": [3, 3], "stride": [2, 1],
                   "padding": [1, 0, 1, 2]}, "weight": d1},
        {"name": "bn1", "op": "batch_norm", "inputs": ["a1"], "outputs": ["a2"],
         "attrs": {"channels": 8, "eps": 1e-3}},
        {"name": "r1", "op": "relu", "inputs": ["a2"], "outputs": ["h1"]},
        {"name": "c2", "op": "conv2d", "inputs": ["h1"], "outputs": ["h2"],
         "attrs": {**conv_attrs, "bias": True, "activation": "relu6"}, "weight": d2},
        {"name": "c3", "op": "conv2d", "inputs": ["h2"], "outputs": ["a3"],
         "attrs": conv_attrs, "weight": d3},
        {"name": "bn3", "op": "batch_norm", "inputs": ["a3"], "outputs": ["h3"],
         "attrs": {"channels": 8}},
        {"name": "res", "op": "add", "inputs": ["h3", "h1"], "outputs": ["a4"]},
        {"name": "r4", "op": "relu", "inputs": ["a4"], "outputs": ["h4"]},
        {"name": "dw", "op": "conv2d", "inputs": ["h4"], "outputs": ["h5"],
         "attrs": {**conv_attrs, "groups": 8, "bias": True, "activation": "hardswish"},
         "weight": d4},
        {"name": "cat", "op": "concat", "inputs": ["h4", "h5"], "outputs": ["h6"]},
        {"name": "pool", "op": "max_pool2d", "inputs": ["h6"], "outputs": ["h7"],
         "attrs": {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "ceil_mode": True}},
        {"name": "gap", "op": "global_avg_pool", "inputs": ["h7"], "outputs": ["h8"]},
        {"name": "flat", "op": "flatten", "inputs": ["h8"], "outputs": ["h9"]},
        {"name": "fc", "op": "linear", "inputs": ["h9"], "outputs": ["y"],
         "attrs": {"in_features": 16, "out_features": 10, "bias": True}, "weight": d5},
    ]
    return doc([io("x", [None, 3, 11, 9])], [io("y", [None, 10])], nodes), t


@pytest.fixture
def rt():
    return SimpleNamespace(io=io, doc=doc, sparse_weight=sparse_weight,
                           weight_tensors=weight_tensors, write=write, check=check,
                           build_file=build_file, split_file=split_file, join_file=join_file,
                           tiny_net=tiny_net, RTOL=RTOL, ATOL=ATOL)
