"""Load time and per-inference executor overhead on a ResNet-sized graph.

    PYTHONPATH=python python benchmarks/bench_model_overhead.py [--sparsity 0.9] [--repeat 20]

Writes a synthetic ResNet-50 (v1.5 topology, 224x224, batch norms left unfolded in the file so
the loader folds them) with random CSR weights of the given sparsity, then measures:

* load time: sparse_rt.load() wall time (read + validate + fold/pack + plan), median of 5;
  also the Python reference reader's read_model() for comparison;
* per-inference overhead: Model.profile() times every layer inside the executor; the overhead
  is the whole Session::run minus the sum of the layer times (input checks, buffer lookup,
  dispatch, output copy), median over `repeat` runs at batch 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import sparse_rt
from sparse_rt.format import encode_weight, read_model, write_model


def resnet50(sparsity: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    tensors, nodes = {}, []
    count = [0]

    def name(prefix):
        count[0] += 1
        return f"{prefix}{count[0]}"

    def conv(x, cin, cout, k, stride=1, act=True):
        n = name("conv")
        scale = np.sqrt(2.0 / (cin * k * k * max(1e-3, 1 - sparsity)))  # He init, kept values
        w = (rng.standard_normal((cout, cin, k, k)) * scale).astype(np.float32)
        w[rng.random(w.shape) < sparsity] = 0
        tensors.update(encode_weight(n, w, "csr"))
        nodes.append({"name": n, "op": "conv2d", "inputs": [x], "outputs": [n],
                      "attrs": {"in_channels": cin, "out_channels": cout, "kernel": [k, k],
                                "stride": [stride, stride], "padding": [k // 2, k // 2]},
                      "weight": {"format": "csr", "shape": [cout, cin * k * k]}})
        b = name("bn")
        for p in ("mean", "beta"):
            tensors[f"{b}.{p}"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        tensors[f"{b}.gamma"] = (1 + rng.standard_normal(cout) * 0.1).astype(np.float32)
        tensors[f"{b}.var"] = (rng.random(cout) + 0.5).astype(np.float32)
        nodes.append({"name": b, "op": "batch_norm", "inputs": [n], "outputs": [b],
                      "attrs": {"channels": cout}})
        if not act:
            return b
        r = name("relu")
        nodes.append({"name": r, "op": "relu", "inputs": [b], "outputs": [r]})
        return r

    x = conv("x", 3, 64, 7, 2)
    nodes.append({"name": "maxpool", "op": "max_pool2d", "inputs": [x], "outputs": ["mp"],
                  "attrs": {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}})
    x, cin = "mp", 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            s = stride if b == 0 else 1
            h = conv(x, cin, width, 1)
            h = conv(h, width, width, 3, s)
            h = conv(h, width, width * 4, 1, act=False)
            sc = conv(x, cin, width * 4, 1, s, act=False) if b == 0 else x
            a = name("add")
            nodes.append({"name": a, "op": "add", "inputs": [h, sc], "outputs": [a],
                          "attrs": {"activation": "relu"}})
            x, cin = a, width * 4
    nodes.append({"name": "gap", "op": "global_avg_pool", "inputs": [x], "outputs": ["gap"]})
    nodes.append({"name": "flat", "op": "flatten", "inputs": ["gap"], "outputs": ["flat"]})
    w = (rng.standard_normal((1000, 2048)) / np.sqrt(2048 * max(1e-3, 1 - sparsity))).astype(
        np.float32)
    w[rng.random(w.shape) < sparsity] = 0
    tensors.update(encode_weight("fc", w, "csr"))
    tensors["fc.bias"] = np.zeros(1000, np.float32)
    nodes.append({"name": "fc", "op": "linear", "inputs": ["flat"], "outputs": ["logits"],
                  "attrs": {"in_features": 2048, "out_features": 1000, "bias": True},
                  "weight": {"format": "csr", "shape": [1000, 2048]}})
    doc = {"producer": {"name": "benchmarks/bench_model_overhead.py"},
           "inputs": [{"name": "x", "shape": [None, 3, 224, 224], "dtype": "f32"}],
           "outputs": [{"name": "logits", "shape": [None, 1000], "dtype": "f32"}],
           "nodes": nodes}
    return doc, tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "resnet50.sprt")
        doc, tensors = resnet50(args.sparsity)
        write_model(path, doc, tensors)
        size = os.path.getsize(path)
        print(f"ResNet-50 synthetic, {args.sparsity:.0%} sparse CSR: {len(doc['nodes'])} nodes,"
              f" {len(tensors)} tensors, {size / 1e6:.1f} MB; {sparse_rt.runtime_info()['isa']},"
              f" cpu {sparse_rt.runtime_info()['cpu']}")
        loads, py_reads = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            m = sparse_rt.load(path)
            loads.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            read_model(path)
            py_reads.append((time.perf_counter() - t0) * 1e3)
        print(f"load (C++ read+validate+fold+pack+plan): median {statistics.median(loads):.1f} ms"
              f" (min {min(loads):.1f}); Python reference read_model: "
              f"{statistics.median(py_reads):.1f} ms")
        print(f"{len(m.report())} layers after fusion; weights {m._m.weight_bytes / 1e6:.1f} MB;"
              f" activations {m._m.activation_bytes_per_sample / 1e6:.2f} MB per sample")
        x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
        for t in args.threads:
            mt = sparse_rt.load(path, num_threads=t)
            p = mt.profile(x, repeat=args.repeat)
            layers = sum(p["layers_ms"])
            print(f"threads {t}: run {p['total_ms']:.2f} ms, layers {layers:.2f} ms, executor"
                  f" overhead {p['overhead_ms'] * 1e3:.1f} us"
                  f" ({p['overhead_ms'] / p['total_ms']:.3%} of the run)")
            walls = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                mt(x)
                walls.append((time.perf_counter() - t0) * 1e3)
            print(f"           model(x) from Python: median {statistics.median(walls):.2f} ms")


if __name__ == "__main__":
    main()
