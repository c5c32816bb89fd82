"""Writes the fuzzing seed corpus: small valid model files covering every storage format
(dense, CSR, BSR; I32 and U16 indices) and every op of docs/format.md §5.

    python tests/fuzz/make_corpus.py [OUT_DIR]        # default: tests/fuzz/corpus

The files are deterministic (fixed seeds) and small (a few KB each), so mutations stay cheap.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from sparse_rt.format import encode_weight, write_model

HERE = os.path.dirname(os.path.abspath(__file__))


def _io(name, shape):
    return {"name": name, "shape": list(shape), "dtype": "f32"}


def _doc(inputs, outputs, nodes):
    return {"format": "sparse_rt", "format_version": 1,
            "producer": {"name": "make_corpus", "version": "1"},
            "inputs": inputs, "outputs": outputs, "nodes": nodes}


def _w(rng, shape, density):
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) > density] = 0
    return w


def _conv(name, x, y, cin, cout, k, fmt, *, groups=1, bias=False, act="none", stride=1,
          pad=None, bs=None):
    desc = {"format": fmt, "shape": [cout, cin // groups * k * k]}
    if bs:
        desc["blocksize"] = list(bs)
    attrs = {"in_channels": cin, "out_channels": cout, "kernel": [k, k],
             "stride": [stride, stride], "padding": [k // 2] * 2 if pad is None else pad,
             "groups": groups, "bias": bias, "activation": act}
    return {"name": name, "op": "conv2d", "inputs": [x], "outputs": [y], "attrs": attrs,
            "weight": desc}


def _linear(name, x, y, fin, fout, fmt, *, bias=False, act="none", bs=None):
    desc = {"format": fmt, "shape": [fout, fin]}
    if bs:
        desc["blocksize"] = list(bs)
    return {"name": name, "op": "linear", "inputs": [x], "outputs": [y],
            "attrs": {"in_features": fin, "out_features": fout, "bias": bias,
                      "activation": act}, "weight": desc}


def _node(name, op, ins, out, **attrs):
    n = {"name": name, "op": op, "inputs": list(ins), "outputs": [out]}
    if attrs:
        n["attrs"] = attrs
    return n


def models():
    """(file name, document, tensors) for every seed."""
    rng = np.random.default_rng(11)
    out = []

    # 1. one dense linear with bias
    t = {**encode_weight("fc", _w(rng, (3, 4), 1.0), "dense"),
         "fc.bias": rng.standard_normal(3).astype(np.float32)}
    out.append(("linear_dense.sprt",
                _doc([_io("x", [None, 4])], [_io("y", [None, 3])],
                     [_linear("fc", "x", "y", 4, 3, "dense", bias=True)]), t))

    # 2. CSR linear (U16 indices) + relu + softmax, fixed batch
    t = encode_weight("fc", _w(rng, (5, 6), 0.4), "csr", index_dtype=np.uint16)
    out.append(("linear_csr_u16_softmax.sprt",
                _doc([_io("x", [2, 6])], [_io("p", [2, 5])],
                     [_linear("fc", "x", "h", 6, 5, "csr"),
                      _node("r", "relu", ["h"], "h2"),
                      _node("sm", "softmax", ["h2"], "p", axis=-1)]), t))

    # 3. BSR linear 2x2 with relu6 + sigmoid
    t = {**encode_weight("fc", _w(rng, (4, 6), 0.5), "bsr", blocksize=(2, 2)),
         "fc.bias": rng.standard_normal(4).astype(np.float32)}
    out.append(("linear_bsr.sprt",
                _doc([_io("x", [None, 6])], [_io("y", [None, 4])],
                     [_linear("fc", "x", "h", 6, 4, "bsr", bias=True, act="relu6", bs=(2, 2)),
                      _node("s", "sigmoid", ["h"], "y")]), t))

    # 4. conv CSR + batch norm (stats) + relu + max pool + flatten + dense linear
    t = encode_weight("c1", _w(rng, (4, 2, 3, 3), 0.5), "csr")
    for k in ("mean", "gamma", "beta"):
        t[f"bn.{k}"] = rng.standard_normal(4).astype(np.float32)
    t["bn.var"] = (rng.random(4) + 0.5).astype(np.float32)
    t.update(encode_weight("fc", _w(rng, (3, 16), 1.0), "dense"))
    out.append(("conv_csr_bn_pool.sprt",
                _doc([_io("x", [None, 2, 5, 5])], [_io("y", [None, 3])],
                     [_conv("c1", "x", "a", 2, 4, 3, "csr"),
                      _node("bn", "batch_norm", ["a"], "b", channels=4, eps=1e-3),
                      _node("r", "relu", ["b"], "c"),
                      _node("mp", "max_pool2d", ["c"], "d", kernel=[2, 2], stride=[2, 2],
                            ceil_mode=False),
                      _node("fl", "flatten", ["d"], "e"),
                      _linear("fc", "e", "y", 16, 3, "dense")]), t))

    # 5. conv BSR + residual add + concat + avg pool + global pool + reshape
    t = {**encode_weight("c1", _w(rng, (4, 4, 3, 3), 0.6), "bsr", blocksize=(2, 3)),
         "c1.bias": rng.standard_normal(4).astype(np.float32)}
    out.append(("conv_bsr_add_concat.sprt",
                _doc([_io("x", [None, 4, 4, 4])], [_io("y", [None, 2, 4])],
                     [_conv("c1", "x", "a", 4, 4, 3, "bsr", bias=True, bs=(2, 3)),
                      _node("add", "add", ["a", "x"], "b", activation="relu"),
                      _node("cat", "concat", ["b", "x"], "c"),
                      _node("ap", "avg_pool2d", ["c"], "d", kernel=[3, 3], stride=[2, 2],
                            padding=[1, 1], count_include_pad=False, ceil_mode=True),
                      _node("gap", "global_avg_pool", ["d"], "e"),
                      _node("rs", "reshape", ["e"], "y", shape=[2, -1])]), t))

    # 6. depthwise conv (CSR, U16) + batch norm (scale_shift) + hardswish + identity, 1x1 dense
    t = encode_weight("dw", _w(rng, (3, 1, 3, 3), 0.8), "csr", index_dtype=np.uint16)
    t["bn.scale"] = rng.standard_normal(3).astype(np.float32)
    t["bn.shift"] = rng.standard_normal(3).astype(np.float32)
    t.update(encode_weight("pw", _w(rng, (2, 3, 1, 1), 1.0), "dense"))
    t["pw.bias"] = rng.standard_normal(2).astype(np.float32)
    out.append(("depthwise_scale_shift.sprt",
                _doc([_io("x", [None, 3, 4, 3])], [_io("y", [None, 2, 2, 2])],
                     [_conv("dw", "x", "a", 3, 3, 3, "csr", groups=3, stride=2,
                            pad=[1, 0, 1, 2]),
                      _node("bn", "batch_norm", ["a"], "b", channels=3, form="scale_shift"),
                      _node("hs", "hardswish", ["b"], "c"),
                      _node("id", "identity", ["c"], "d"),
                      _conv("pw", "d", "y", 3, 2, 1, "dense", bias=True, act="sigmoid")]), t))

    # 7. two inputs, two outputs, an empty CSR (nnz 0) and a graph input passed through
    t = encode_weight("fc", np.zeros((2, 3), np.float32), "csr")
    out.append(("two_inputs_empty_csr.sprt",
                _doc([_io("a", [None, 3]), _io("b", [None, 2])],
                     [_io("y", [None, 2]), _io("b", [None, 2])],
                     [_linear("fc", "a", "h", 3, 2, "csr"),
                      _node("add", "add", ["h", "b"], "y")]), t))

    # 8. no nodes: the input is the output
    out.append(("no_nodes.sprt", _doc([_io("x", [None, 2])], [_io("x", [None, 2])], []), {}))
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    dest = argv[0] if argv else os.path.join(HERE, "corpus")
    os.makedirs(dest, exist_ok=True)
    for name, doc, tensors in models():
        write_model(os.path.join(dest, name), doc, tensors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
