"""Residual adds fused into the epilogue of the conv that produces one of their inputs.

Each graph is written as a .sprt, run by sparse_rt at batch 1 and 3 against the numpy reference
executor (sparse_rt.reference), and its layer report is checked: the add is listed in the
`fused` row of the conv computed later, or stays a layer of its own where fusing would be wrong
(conv output used elsewhere, conv with its own activation, fallback conv, both inputs the same).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import sparse_rt
from sparse_rt import _core

C, H, W = 8, 9, 7  # activations (C, H, W): odd sizes leave pixel tails in every kernel


class Net:
    """A tiny graph builder: conv/bn/relu/add nodes over named values."""

    def __init__(self, rt, seed, fmt="csr", c=C, h=H, w=W):
        self.rt, self.fmt = rt, fmt
        self.rng = np.random.default_rng(seed)
        self.nodes, self.tensors = [], {}
        self.shape = (c, h, w)

    def conv(self, name, x, y, cin, cout, k=3, stride=1, pad=1, act="none", dilation=1,
             bn=None, fmt=None):
        fmt = fmt or self.fmt
        w = self.rt.sparse_weight(self.rng, (cout, cin, k, k), 1.0 if fmt == "dense" else 0.5)
        w /= np.float32(np.sqrt(cin * k * k))  # activations stay O(1) through the chains
        t, desc = self.rt.weight_tensors(name, w, fmt)
        self.tensors.update(t)
        self.tensors[f"{name}.bias"] = self.rng.standard_normal(cout).astype(np.float32)
        out = y if bn is None else f"{name}_raw"
        self.nodes.append({"name": name, "op": "conv2d", "inputs": [x], "outputs": [out],
                           "attrs": {"in_channels": cin, "out_channels": cout,
                                     "kernel": [k, k], "stride": [stride, stride],
                                     "padding": [pad, pad], "dilation": [dilation, dilation],
                                     "bias": True, "activation": act},
                           "weight": desc})
        if bn is not None:
            for key in ("mean", "gamma", "beta"):
                self.tensors[f"{bn}.{key}"] = self.rng.standard_normal(cout).astype(np.float32)
            self.tensors[f"{bn}.var"] = (self.rng.random(cout) + 0.5).astype(np.float32)
            self.nodes.append({"name": bn, "op": "batch_norm", "inputs": [out], "outputs": [y],
                               "attrs": {"channels": cout, "eps": 1e-5}})

    def add(self, name, a, b, y, act="none"):
        self.nodes.append({"name": name, "op": "add", "inputs": [a, b], "outputs": [y],
                           "attrs": {"activation": act}})

    def act(self, name, op, x, y):
        self.nodes.append({"name": name, "op": op, "inputs": [x], "outputs": [y]})

    def write(self, path, outputs, in_shape=None):
        rt = self.rt
        d = rt.doc([rt.io("x", [None, *(in_shape or self.shape)])],
                   [rt.io(name, [None, *shape]) for name, shape in outputs], self.nodes)
        return rt.write(path, d, self.tensors)


def _run(rt, path, in_shape, seed):
    m = sparse_rt.load(path)
    rng = np.random.default_rng(seed)
    for n in (1, 3):
        x = rng.standard_normal((n, *in_shape)).astype(np.float32)
        rt.check(path, x, model=m)
    return m


def _rows(m):
    return {r["name"]: r for r in m.report()}


def _seed(*parts):
    return zlib.crc32(repr(parts).encode())


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("tail", ["relu_node", "add_attr", "none", "hardswish"])
def test_basic_block_identity(tmp_path, rt, isa, threads, fmt, tail):
    """conv+bn+relu, conv+bn, add(x), relu: the add joins the second conv; its other input is
    the graph input (also the first conv's input)."""
    net = Net(rt, _seed("basic", fmt, tail), fmt)
    net.conv("c1", "x", "a1", C, C, bn="bn1")
    net.act("r1", "relu", "a1", "h1")
    net.conv("c2", "h1", "h2", C, C, bn="bn2")
    net.add("add", "h2", "x", "s" if tail in ("relu_node", "hardswish") else "y",
            act="relu" if tail == "add_attr" else "none")
    if tail == "relu_node":
        net.act("r2", "relu", "s", "y")
    if tail == "hardswish":
        net.act("r2", "hardswish", "s", "y")
    p = net.write(tmp_path / "b.sprt", [("y", (C, H, W))])
    rows = _rows(_run(rt, p, (C, H, W), 1))
    assert list(rows) == ["c1", "c2"], rows.keys()
    want = ["bn2", "add"] + (["r2"] if tail in ("relu_node", "hardswish") else [])
    assert rows["c2"]["fused"] == want
    assert rows["c2"]["activation"] == {"relu_node": "relu", "add_attr": "relu",
                                        "none": "none", "hardswish": "hardswish"}[tail]
    assert rows["c2"]["input_shapes"] == [(None, C, H, W), (None, C, H, W)]


@pytest.mark.parametrize("ds_first", [False, True])
@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
def test_bottleneck_with_downsample(tmp_path, rt, isa, threads, fmt, ds_first):
    """torchvision's Bottleneck with a strided downsample: the add joins whichever of conv3 and
    the downsample conv runs later (torchvision computes the downsample last)."""
    net = Net(rt, _seed("bottleneck", fmt, ds_first), fmt)
    mid, out = 4, 16
    if ds_first:
        net.conv("ds", "x", "d", C, out, k=1, stride=2, pad=0, bn="dsbn")
    net.conv("c1", "x", "a1", C, mid, k=1, pad=0, bn="bn1")
    net.act("r1", "relu", "a1", "h1")
    net.conv("c2", "h1", "a2", mid, mid, k=3, stride=2, pad=1, bn="bn2")
    net.act("r2", "relu", "a2", "h2")
    net.conv("c3", "h2", "h3", mid, out, k=1, pad=0, bn="bn3")
    if not ds_first:
        net.conv("ds", "x", "d", C, out, k=1, stride=2, pad=0, bn="dsbn")
    net.add("add", "h3", "d", "s")
    net.act("r3", "relu", "s", "y")
    oshape = (out, (H + 1) // 2, (W + 1) // 2)
    p = net.write(tmp_path / "bn.sprt", [("y", oshape)])
    rows = _rows(_run(rt, p, (C, H, W), 2))
    later, other = ("c3", "ds") if ds_first else ("ds", "c3")
    assert "add" not in rows and rows[later]["fused"][-2:] == ["add", "r3"]
    assert rows[later]["activation"] == "relu" and "add" not in rows[other]["fused"]


def test_two_blocks_and_add_of_two_convs(tmp_path, rt, isa, threads):
    """Two chained blocks (a fused conv's output is the next block's residual) and an add of
    two convs of the same input."""
    net = Net(rt, 3)
    net.conv("c1", "x", "a1", C, C)
    net.add("add1", "a1", "x", "s1", act="relu")
    net.conv("c2", "s1", "a2", C, C, bn="bn2")
    net.add("add2", "s1", "a2", "s2", act="relu")
    net.conv("p", "s2", "pa", C, C, k=1, pad=0)
    net.conv("q", "s2", "qa", C, C, k=3, pad=1)
    net.add("add3", "pa", "qa", "y")
    p = net.write(tmp_path / "two.sprt", [("y", (C, H, W))])
    rows = _rows(_run(rt, p, (C, H, W), 3))
    assert list(rows) == ["c1", "c2", "p", "q"]
    assert rows["c1"]["fused"] == ["add1"] and rows["c2"]["fused"] == ["bn2", "add2"]
    assert rows["q"]["fused"] == ["add3"] and rows["p"]["fused"] == []


def test_residual_is_the_convs_own_intermediate_input(tmp_path, rt, threads):
    """add(conv(h), h) with h computed in the arena: y must get neither h's buffer nor x's."""
    net = Net(rt, 4)
    net.conv("c0", "x", "h", C, C, act="relu")
    net.conv("c1", "h", "a", C, C)
    net.add("add", "a", "h", "y")
    p = net.write(tmp_path / "own.sprt", [("y", (C, H, W))])
    rows = _rows(_run(rt, p, (C, H, W), 4))
    assert rows["c1"]["fused"] == ["add"]


def test_residual_kept_alive_across_intermediate_layers(tmp_path, rt, threads):
    """The residual is computed first and read only by the last conv of a long chain: the
    memory plan must not hand its buffer to the layers in between."""
    net = Net(rt, 5)
    net.conv("c0", "x", "r", C, C)
    prev = "r"
    for i in range(4):
        net.conv(f"m{i}", prev, f"m{i}o", C, C, act="relu")
        prev = f"m{i}o"
    net.conv("last", prev, "la", C, C)
    net.add("add", "r", "la", "y")
    p = net.write(tmp_path / "alive.sprt", [("y", (C, H, W))])
    rows = _rows(_run(rt, p, (C, H, W), 5))
    assert rows["last"]["fused"] == ["add"]


def test_partial_sum_blocks(tmp_path, rt, isa, monkeypatch):
    """Input channels split into blocks of 3 (SPARSE_RT_CONV_CBLOCK): the residual is added once,
    in the last block's epilogue; a 16-channel dense conv (oneDNN when built) as well."""
    monkeypatch.setenv("SPARSE_RT_CONV_CBLOCK", "3")
    monkeypatch.setenv("SPARSE_RT_CONV_TILE", "37")
    c = 16
    net = Net(rt, 6, c=c)
    net.conv("c1", "x", "a1", c, c, fmt="csr", act="relu")
    net.conv("c2", "a1", "a2", c, c, fmt="bsr", bn="bn2")
    net.add("add2", "a2", "x", "s2", act="relu6")
    net.conv("c3", "s2", "a3", c, c, fmt="dense")
    net.add("add3", "a3", "s2", "y")
    p = net.write(tmp_path / "blocks.sprt", [("y", (c, H, W))], in_shape=(c, H, W))
    rows = _rows(_run(rt, p, (c, H, W), 6))
    assert rows["c2"]["fused"] == ["bn2", "add2"] and rows["c2"]["activation"] == "relu6"
    assert rows["c3"]["fused"] == ["add3"]
    if _core.have_onednn():
        assert rows["c3"]["kernel"] == "f32_conv__onednn"


@pytest.mark.parametrize("case", ["output_used_elsewhere", "conv_has_activation",
                                  "fallback_conv", "same_input_twice", "second_consumer",
                                  "add_before_conv_exists"])
def test_not_fused(tmp_path, rt, case):
    net = Net(rt, _seed("nofuse", case))
    outputs = [("y", (C, H, W))]
    if case == "output_used_elsewhere":  # the conv's output is also a graph output
        net.conv("c", "x", "a", C, C)
        net.add("add", "a", "x", "y")
        outputs.append(("a", (C, H, W)))
    elif case == "conv_has_activation":  # relu(conv) + x != fused clamp(conv + x)
        net.conv("c", "x", "a", C, C, act="relu")
        net.add("add", "a", "x", "y")
    elif case == "fallback_conv":  # dilation 2 runs on the general fallback conv
        net.conv("c", "x", "a", C, C, pad=2, dilation=2)
        net.add("add", "a", "x", "y")
    elif case == "same_input_twice":
        net.conv("c", "x", "a", C, C)
        net.add("add", "a", "a", "y")
    elif case == "second_consumer":  # the conv's output also feeds a relu
        net.conv("c", "x", "a", C, C)
        net.add("add", "a", "x", "s")
        net.act("r", "relu", "a", "t")
        net.add("add2", "s", "t", "y")
    elif case == "add_before_conv_exists":  # the later input is an add, not a conv
        net.conv("c", "x", "a", C, C)
        net.add("add0", "x", "x", "b")
        net.add("add", "a", "b", "y")
    p = net.write(tmp_path / f"{case}.sprt", outputs)
    rows = _rows(_run(rt, p, (C, H, W), 7))
    assert "add" in rows and "add" not in rows["c"]["fused"], rows


def test_fused_model_runs_concurrent_sessions(tmp_path, rt):
    """One model, two threads running it: the fused layer is stateless like the others."""
    from concurrent.futures import ThreadPoolExecutor

    net = Net(rt, 8)
    net.conv("c1", "x", "a1", C, C, bn="bn1")
    net.add("add", "a1", "x", "y", act="relu")
    p = net.write(tmp_path / "cc.sprt", [("y", (C, H, W))])
    m = sparse_rt.load(p)
    xs = [np.random.default_rng(i).standard_normal((2, C, H, W)).astype(np.float32)
          for i in range(6)]
    want = [m(x) for x in xs]
    with ThreadPoolExecutor(2) as ex:
        got = list(ex.map(m, xs))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_env_switch_keeps_adds_separate(tmp_path, rt, monkeypatch):
    """SPARSE_RT_FUSE_RESIDUAL=0 (read at load) keeps the add a layer; same output."""
    net = Net(rt, 9)
    net.conv("c1", "x", "a1", C, C)
    net.add("add", "a1", "x", "y", act="relu")
    p = net.write(tmp_path / "env.sprt", [("y", (C, H, W))])
    fused = sparse_rt.load(p)
    monkeypatch.setenv("SPARSE_RT_FUSE_RESIDUAL", "0")
    plain = _run(rt, p, (C, H, W), 9)
    assert list(_rows(plain)) == ["c1", "add"] and list(_rows(fused)) == ["c1"]
    x = np.random.default_rng(9).standard_normal((2, C, H, W)).astype(np.float32)
    np.testing.assert_array_equal(fused(x), plain(x))


@pytest.mark.parametrize("residual_is_output", [False, True])
def test_output_takes_the_dying_residuals_buffer(tmp_path, rt, isa, threads, residual_is_output):
    """a = c0(x), b = c1(a), y = c2(b) + a: a is last read by the fused add, so c2 writes y into
    a's buffer, element by element over the residual it reads (two buffers, not three) --
    unless a is also a graph output, which must survive."""
    net = Net(rt, _seed("in-place", residual_is_output), "csr")
    net.conv("c0", "x", "a", C, C)
    net.conv("c1", "a", "b", C, C, act="relu")
    net.conv("c2", "b", "h", C, C)
    net.add("add", "h", "a", "y", act="relu")
    outputs = [("y", (C, H, W))] + ([("a", (C, H, W))] if residual_is_output else [])
    p = net.write(tmp_path / "ip.sprt", outputs)
    m = _run(rt, p, (C, H, W), 5)
    assert _rows(m)["c2"]["fused"] == ["add"]
    assert f"{3 if residual_is_output else 2} reused buffers" in str(m)
