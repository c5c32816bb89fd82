"""Writes the golden model tests/data/tiny_cnn.sprt and its expected output.

    python tests/data/make_tiny_cnn.py      # from the repository root (needs numpy + sparse_rt)

The model is a small CNN using dense, CSR and BSR weights (U16 indices for one layer), a batch
norm to fold, a residual add + ReLU, a depthwise conv, concat, pools and a linear head:
input "x" [N, 3, 16, 16] -> output "logits" [N, 10]. The expected output
(tiny_cnn_expected.txt) is the numpy reference executor's, for batch 2 and the input

    x.flat[i] = ((i % 17) - 8) / 8        (exact in float32; i over the whole [2, 3, 16, 16])

so C++ tests can rebuild the input without reading numpy files. Format of the .txt: comment
lines starting with '#', then one line "<dim0> <dim1>", then the values row-major, one per
line, as %.9g.
"""

from __future__ import annotations

import os

import numpy as np

from sparse_rt.format import encode_weight, write_model
from sparse_rt.reference import run_reference

HERE = os.path.dirname(os.path.abspath(__file__))


def golden_input(n: int = 2) -> np.ndarray:
    i = np.arange(n * 3 * 16 * 16)
    return (((i % 17) - 8) / 8).astype(np.float32).reshape(n, 3, 16, 16)


def build():
    rng = np.random.default_rng(20261127)

    def sparse(shape, density):
        w = (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
        w[rng.random(shape) > density] = 0
        return w

    def block_sparse(shape, r, c, keep):
        w = sparse(shape, 1.0)
        w2 = w.reshape(shape[0], -1)
        mask = rng.random((w2.shape[0] // r, w2.shape[1] // c)) < keep
        w2 *= np.kron(mask, np.ones((r, c), np.float32))
        return w

    t = {}
    t.update(encode_weight("stem", sparse((16, 3, 3, 3), 1.0), "dense"))
    for k, v in (("mean", 0.1), ("gamma", 1.0), ("beta", 0.1)):
        t[f"stem_bn.{k}"] = (rng.standard_normal(16) * v + (1.0 if k == "gamma" else 0)).astype(np.float32)
    t["stem_bn.var"] = (rng.random(16) + 0.5).astype(np.float32)
    t.update(encode_weight("b1", sparse((16, 16, 3, 3), 0.3), "csr"))
    t["b1.bias"] = (rng.standard_normal(16) * 0.1).astype(np.float32)
    t.update(encode_weight("b2", block_sparse((16, 16, 3, 3), 4, 4, 0.4), "bsr", blocksize=(4, 4),
                           index_dtype=np.uint16))
    t["b2.bias"] = (rng.standard_normal(16) * 0.1).astype(np.float32)
    t.update(encode_weight("dw", sparse((16, 1, 3, 3), 0.8), "csr"))
    t.update(encode_weight("pw", sparse((32, 32, 1, 1), 0.25), "csr"))
    t["pw.bias"] = (rng.standard_normal(32) * 0.1).astype(np.float32)
    t.update(encode_weight("fc", block_sparse((10, 32), 2, 4, 0.5), "bsr", blocksize=(2, 4)))
    t["fc.bias"] = (rng.standard_normal(10) * 0.1).astype(np.float32)

    def conv(name, i, o, cin, cout, k=3, groups=1, bias=False, act="none", stride=1, fmt="csr",
             bs=None):
        K = cin // groups * k * k
        w = {"format": fmt, "shape": [cout, K], **({"blocksize": bs} if bs else {})}
        return {"name": name, "op": "conv2d", "inputs": [i], "outputs": [o],
                "attrs": {"in_channels": cin, "out_channels": cout, "kernel": [k, k],
                          "stride": [stride, stride], "padding": [k // 2, k // 2],
                          "groups": groups, "bias": bias, "activation": act},
                "weight": w}

    nodes = [
        conv("stem", "x", "s0", 3, 16, stride=2, fmt="dense"),
        {"name": "stem_bn", "op": "batch_norm", "inputs": ["s0"], "outputs": ["s1"],
         "attrs": {"channels": 16}},
        {"name": "stem_relu", "op": "relu", "inputs": ["s1"], "outputs": ["s2"]},
        conv("b1", "s2", "b1", 16, 16, bias=True, act="relu"),
        conv("b2", "b1", "b2", 16, 16, bias=True, fmt="bsr", bs=[4, 4]),
        {"name": "res", "op": "add", "inputs": ["b2", "s2"], "outputs": ["r0"]},
        {"name": "res_relu", "op": "relu", "inputs": ["r0"], "outputs": ["r1"]},
        conv("dw", "r1", "d0", 16, 16, groups=16, act="relu6"),
        {"name": "cat", "op": "concat", "inputs": ["r1", "d0"], "outputs": ["c0"]},
        conv("pw", "c0", "p0", 32, 32, k=1, bias=True, act="hardswish"),
        {"name": "pool", "op": "max_pool2d", "inputs": ["p0"], "outputs": ["p1"],
         "attrs": {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}},
        {"name": "gap", "op": "global_avg_pool", "inputs": ["p1"], "outputs": ["g0"]},
        {"name": "flat", "op": "flatten", "inputs": ["g0"], "outputs": ["f0"]},
        {"name": "fc", "op": "linear", "inputs": ["f0"], "outputs": ["logits"],
         "attrs": {"in_features": 32, "out_features": 10, "bias": True},
         "weight": {"format": "bsr", "shape": [10, 32], "blocksize": [2, 4]}},
    ]
    doc = {"producer": {"name": "tests/data/make_tiny_cnn.py"},
           "inputs": [{"name": "x", "shape": [None, 3, 16, 16], "dtype": "f32"}],
           "outputs": [{"name": "logits", "shape": [None, 10], "dtype": "f32"}],
           "nodes": nodes}
    return doc, t


def main():
    doc, t = build()
    path = os.path.join(HERE, "tiny_cnn.sprt")
    write_model(path, doc, t)
    y = run_reference(path, golden_input())
    with open(os.path.join(HERE, "tiny_cnn_expected.txt"), "w") as f:
        f.write("# expected output 'logits' of tiny_cnn.sprt (numpy reference executor)\n")
        f.write("# input x [2, 3, 16, 16], x.flat[i] = ((i % 17) - 8) / 8\n")
        f.write(f"{y.shape[0]} {y.shape[1]}\n")
        for v in y.ravel():
            f.write(f"{v:.9g}\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes); logits[0] = {y[0]}")


if __name__ == "__main__":
    main()
