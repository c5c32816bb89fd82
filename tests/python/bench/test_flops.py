"""FLOP counts and theoretical speedup on hand-built files whose numbers are checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_rt.bench.flops import model_flops, theoretical_speedup
from sparse_rt.format import encode_weight, write_model


def _io(name, shape):
    return {"name": name, "shape": list(shape), "dtype": "f32"}


def _weight(shape2d, nnz, seed):
    rng = np.random.default_rng(seed)
    w = np.zeros(int(np.prod(shape2d)), dtype=np.float32)
    w[rng.choice(w.size, nnz, replace=False)] = rng.uniform(0.5, 1.0, nnz)
    return w.reshape(shape2d)


def _conv_linear_file(path, conv_fmt="csr", lin_fmt="csr", conv_nnz=10, lin_nnz=30):
    """x (N,2,5,5) -> conv 2->4, 3x3, pad 1 -> relu -> flatten (100) -> linear 100->6."""
    wc = _weight((4, 18), conv_nnz, 0)
    wl = _weight((6, 100), lin_nnz, 1)
    tensors = {}
    blk = {"blocksize": (2, 2)} if conv_fmt == "bsr" else {}
    tensors.update(encode_weight("conv", wc.reshape(4, 2, 3, 3), conv_fmt, **blk))
    tensors.update(encode_weight("fc", wl, lin_fmt))
    cdesc = {"format": conv_fmt, "shape": [4, 18], **({"blocksize": [2, 2]} if blk else {})}
    nodes = [
        {"name": "conv", "op": "conv2d", "inputs": ["x"], "outputs": ["c"],
         "attrs": {"in_channels": 2, "out_channels": 4, "kernel": [3, 3], "padding": [1, 1]},
         "weight": cdesc},
        {"name": "act", "op": "relu", "inputs": ["c"], "outputs": ["r"]},
        {"name": "flat", "op": "flatten", "inputs": ["r"], "outputs": ["f"]},
        {"name": "fc", "op": "linear", "inputs": ["f"], "outputs": ["y"],
         "attrs": {"in_features": 100, "out_features": 6}, "weight": {"format": lin_fmt,
                                                                     "shape": [6, 100]}},
    ]
    doc = {"format": "sparse_rt", "format_version": 1, "producer": {"name": "tests"},
           "inputs": [_io("x", [None, 2, 5, 5])], "outputs": [_io("y", [None, 6])],
           "nodes": nodes}
    write_model(str(path), doc, tensors)
    return wc, wl


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_hand_checked_conv_and_linear(tmp_path, fmt):
    _conv_linear_file(tmp_path / "m.sprt", fmt, fmt)
    mf = model_flops(tmp_path / "m.sprt")
    conv, act, flat, fc = mf.layers
    # conv: 2 * Ho*Wo * O * (C/g)*kh*kw = 2*25*4*18 dense; 2 * 25 * nnz useful
    assert (conv.dense_flops, conv.useful_flops, conv.nnz, conv.params) == (3600, 500, 10, 72)
    # linear: 2*M*K dense; 2*nnz useful
    assert (fc.dense_flops, fc.useful_flops, fc.nnz) == (1200, 60, 30)
    assert conv.format == fmt and fc.format == fmt and act.format is None
    assert act.useful_flops == 100 and flat.useful_flops == 0      # "other": relu counted, flatten not
    assert mf.dense(1) == 4800 and mf.useful(1) == 560 and mf.other(1) == 100
    assert mf.dense(16) == 16 * 4800 and mf.useful(16) == 16 * 560
    assert theoretical_speedup(mf.dense(), mf.useful()) == pytest.approx(4800 / 560)
    assert mf.weight_sparsity == pytest.approx(1 - 40 / 672)


def test_explicit_zeros_in_blocks_are_not_useful(tmp_path):
    wc, _ = _conv_linear_file(tmp_path / "b.sprt", conv_fmt="bsr", conv_nnz=10)
    conv = model_flops(tmp_path / "b.sprt").layers[0]
    assert conv.format == "bsr2x2"
    assert conv.nnz == np.count_nonzero(wc) == 10
    assert conv.useful_flops == 2 * 25 * 10


def test_grouped_conv(tmp_path):
    # depthwise 3x3 on 8 channels, stride 2, 9x9 input -> 5x5 (pad 1): K = 1*3*3
    w = _weight((8, 9), 36, 3)
    doc = {"format": "sparse_rt", "format_version": 1, "producer": {"name": "tests"},
           "inputs": [_io("x", [None, 8, 9, 9])], "outputs": [_io("y", [None, 8, 5, 5])],
           "nodes": [{"name": "dw", "op": "conv2d", "inputs": ["x"], "outputs": ["y"],
                      "attrs": {"in_channels": 8, "out_channels": 8, "kernel": [3, 3],
                                "stride": [2, 2], "padding": [1, 1], "groups": 8},
                      "weight": {"format": "csr", "shape": [8, 9]}}]}
    write_model(str(tmp_path / "dw.sprt"), doc, encode_weight("dw", w.reshape(8, 1, 3, 3), "csr"))
    (dw,) = model_flops(tmp_path / "dw.sprt").layers
    assert dw.dense_flops == 2 * 25 * 8 * 9 and dw.useful_flops == 2 * 25 * 36


def test_theoretical_speedup_edges():
    assert theoretical_speedup(100, 25) == 4.0
    assert theoretical_speedup(100, 0) == float("inf")
    with pytest.raises(ValueError, match="-1"):
        theoretical_speedup(-1, 5)
