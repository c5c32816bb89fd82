"""Every op and every fusion of the C++ executor against the numpy reference (run_reference).

Each case writes a model with sparse_rt.format.write_model, loads it with sparse_rt.load (the
C++ reader, planner and executor) and compares at batch 1 and 3. The ISA path and thread
count are swept by the `isa` and `threads` fixtures of tests/python/conftest.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import sparse_rt

BATCHES = (1, 3)
ACTS = ("none", "relu", "relu6", "hardswish", "sigmoid")


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


def _single(tmp_path, rt, op, attrs, in_shapes, out_shape, tensors=None, weight=None):
    names = [f"x{i}" for i in range(len(in_shapes))]
    node = {"name": "n", "op": op, "inputs": names, "outputs": ["y"], "attrs": attrs}
    if weight is not None:
        node["weight"] = weight
    d = rt.doc([rt.io(n, [None, *s]) for n, s in zip(names, in_shapes)],
               [rt.io("y", [None, *out_shape])], [node])
    return rt.write(tmp_path / f"{op}.sprt", d, tensors or {})


def _run_batches(rt, path, in_shapes, seed, scale=1.0):
    m = sparse_rt.load(path)
    rng = np.random.default_rng(seed)
    for n in BATCHES:
        xs = {f"x{i}": (rng.standard_normal((n, *s)) * scale).astype(np.float32)
              for i, s in enumerate(in_shapes)}
        rt.check(path, xs if len(xs) > 1 else xs["x0"], model=m)
    return m


CONV_CASES = [
    # cin, cout, (kh, kw), stride, padding, dilation, groups, bias, act, (H, W)
    (3, 5, (3, 3), (1, 1), [1, 1], (1, 1), 1, True, "relu", (7, 9)),
    (4, 6, (3, 2), (2, 3), [0, 1, 2, 1], (1, 1), 2, False, "none", (11, 8)),
    (6, 6, (3, 3), (2, 2), [1, 1], (1, 1), 6, True, "relu6", (9, 9)),  # depthwise
    (4, 8, (1, 1), (1, 1), [0, 0], (1, 1), 1, True, "hardswish", (5, 3)),  # pointwise
    (3, 4, (5, 3), (1, 2), [2, 1], (2, 1), 1, False, "sigmoid", (13, 7)),  # dilation
    (2, 4, (7, 7), (2, 2), [3, 3], (1, 1), 1, True, "none", (15, 15)),
    (4, 8, (1, 1), (2, 2), [0, 0], (1, 1), 1, True, "relu", (7, 6)),  # strided 1x1
    (6, 3, (2, 2), (1, 1), [0, 0, 1, 1], (2, 3), 3, True, "relu", (6, 10)),  # grouped, dilated
    (2, 4, (3, 3), (3, 1), [2, 0], (1, 1), 2, True, "none", (4, 5)),  # depthwise x2 multiplier
    (2, 3, (5, 5), (1, 1), [4, 4], (2, 2), 1, True, "relu", (1, 1)),  # taps mostly in padding
    (2, 4, (3, 5), (2, 3), [1, 4, 1, 4], (1, 2), 2, False, "none", (2, 3)),
    (3, 2, (1, 3), (1, 1), [0, 3, 0, 3], (1, 3), 1, False, "relu6", (4, 1)),
]


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}d{c[5]}g{c[6]}{c[8]}")
def test_conv2d(tmp_path, rt, isa, threads, case, fmt):
    cin, cout, k, s, pad, dil, g, bias, act, hw = case
    rng = np.random.default_rng(_seed(case, fmt))
    w = rt.sparse_weight(rng, (cout, cin // g, *k), 1.0 if fmt == "dense" else 0.5)
    t, desc = rt.weight_tensors("n", w, fmt, groups=g)
    if bias:
        t["n.bias"] = rng.standard_normal(cout).astype(np.float32)
    attrs = {"in_channels": cin, "out_channels": cout, "kernel": list(k), "stride": list(s),
             "padding": pad, "dilation": list(dil), "groups": g, "bias": bias,
             "activation": act}
    pad4 = pad * 2 if len(pad) == 2 else pad

    def out(size, kk, ss, p0, p1, d):
        return (size + p0 + p1 - d * (kk - 1) - 1) // ss + 1
    oshape = (cout, out(hw[0], k[0], s[0], pad4[0], pad4[2], dil[0]),
              out(hw[1], k[1], s[1], pad4[1], pad4[3], dil[1]))
    p = _single(tmp_path, rt, "conv2d", attrs, [(cin, *hw)], oshape, t, desc)
    m = _run_batches(rt, p, [(cin, *hw)], _seed(case))
    (row,) = m.report()
    assert row["format"].split()[0] == fmt and row["activation"] == act
    assert row["kernel"]


def test_conv2d_empty_and_full_sparse(tmp_path, rt):
    """A CSR conv with all-zero rows (and one with no non-zeros at all)."""
    rng = np.random.default_rng(1)
    for density in (0.0, 0.1):
        w = rt.sparse_weight(rng, (6, 4, 3, 3), density)
        w[2] = 0
        t, desc = rt.weight_tensors("n", w, "csr")
        t["n.bias"] = rng.standard_normal(6).astype(np.float32)
        attrs = {"in_channels": 4, "out_channels": 6, "kernel": [3, 3], "bias": True,
                 "padding": [1, 1], "activation": "relu"}
        p = _single(tmp_path, rt, "conv2d", attrs, [(4, 5, 5)], (6, 5, 5), t, desc)
        _run_batches(rt, p, [(4, 5, 5)], 2)


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("act", ACTS)
def test_linear(tmp_path, rt, isa, threads, fmt, act):
    rng = np.random.default_rng(_seed(fmt, act))
    w = rt.sparse_weight(rng, (6, 20), 1.0 if fmt == "dense" else 0.4)
    t, desc = rt.weight_tensors("n", w, fmt)
    t["n.bias"] = rng.standard_normal(6).astype(np.float32)
    p = _single(tmp_path, rt, "linear", {"in_features": 20, "out_features": 6, "bias": True,
                                         "activation": act}, [(20,)], (6,), t, desc)
    _run_batches(rt, p, [(20,)], 3, scale=3.0)


@pytest.mark.parametrize("index_dtype", [np.int32, np.uint16])
def test_u16_indices(tmp_path, rt, index_dtype):
    d, t = rt.tiny_net(index_dtype=index_dtype)
    p = rt.write(tmp_path / "u16.sprt", d, t)
    _run_batches(rt, p, [(3, 11, 9)], 4)


MAXPOOL_CASES = [
    ((3, 3), (2, 2), [1, 1], (1, 1), False, (9, 9)),
    ((3, 3), (2, 2), [1, 1], (1, 1), True, (10, 7)),
    ((2, 2), (2, 2), [0, 0], (1, 1), True, (5, 7)),
    ((3, 2), (1, 2), [1, 0], (2, 1), False, (8, 6)),
    ((3, 3), (2, 2), [0, 0], (1, 1), True, (2, 2)),
    ((2, 3), (3, 2), [1, 1], (2, 2), True, (7, 9)),
]


@pytest.mark.parametrize("case", MAXPOOL_CASES)
def test_max_pool2d(tmp_path, rt, threads, case):
    k, s, pad, dil, ceil, hw = case
    attrs = {"kernel": list(k), "stride": list(s), "padding": pad, "dilation": list(dil),
             "ceil_mode": ceil}
    import torch  # shape oracle only
    o = torch.nn.functional.max_pool2d(torch.zeros(1, 3, *hw), k, s, pad, dil, ceil_mode=ceil)
    p = _single(tmp_path, rt, "max_pool2d", attrs, [(3, *hw)], o.shape[1:])
    _run_batches(rt, p, [(3, *hw)], 5)


@pytest.mark.parametrize("case", MAXPOOL_CASES)
def test_max_pool2d_propagates_nan(tmp_path, rt, case):
    """A NaN anywhere in a window makes that window's output NaN (as torch), whichever side
    of the comparison it lands on; windows without a NaN are unaffected."""
    k, s, pad, dil, ceil, hw = case
    attrs = {"kernel": list(k), "stride": list(s), "padding": pad, "dilation": list(dil),
             "ceil_mode": ceil}
    import torch
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, *hw)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    want = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, pad, dil,
                                          ceil_mode=ceil).numpy()
    p = _single(tmp_path, rt, "max_pool2d", attrs, [(3, *hw)], want.shape[1:])
    got = sparse_rt.load(p).run(x)
    got = got if isinstance(got, np.ndarray) else next(iter(got.values()))
    assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN positions differ"
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


AVGPOOL_CASES = [
    ((3, 3), (2, 2), [1, 1], False, True, (9, 9)),
    ((3, 3), (2, 2), [1, 1], False, False, (9, 8)),
    ((3, 3), (2, 2), [1, 1], True, True, (10, 7)),
    ((3, 3), (2, 2), [1, 1], True, False, (10, 7)),
    ((2, 4), (3, 1), [1, 2], True, True, (8, 11)),
    ((2, 2), (2, 2), [0, 0], True, True, (5, 5)),
    ((3, 3), (2, 2), [0, 0], True, False, (2, 2)),
]


@pytest.mark.parametrize("case", AVGPOOL_CASES)
def test_avg_pool2d(tmp_path, rt, threads, case):
    k, s, pad, ceil, cip, hw = case
    attrs = {"kernel": list(k), "stride": list(s), "padding": pad, "ceil_mode": ceil,
             "count_include_pad": cip}
    import torch
    o = torch.nn.functional.avg_pool2d(torch.zeros(1, 2, *hw), k, s, pad, ceil_mode=ceil,
                                       count_include_pad=cip)
    p = _single(tmp_path, rt, "avg_pool2d", attrs, [(2, *hw)], o.shape[1:])
    _run_batches(rt, p, [(2, *hw)], 6)


@pytest.mark.parametrize("form", ["stats", "scale_shift"])
@pytest.mark.parametrize("shape", [(5, 4, 3), (5,), (5, 7)])
def test_batch_norm(tmp_path, rt, form, shape):
    rng = np.random.default_rng(_seed(form, shape))
    c = shape[0]
    if form == "stats":
        t = {"n.mean": rng.standard_normal(c).astype(np.float32),
             "n.var": (rng.random(c) + 0.1).astype(np.float32),
             "n.gamma": rng.standard_normal(c).astype(np.float32),
             "n.beta": rng.standard_normal(c).astype(np.float32)}
        attrs = {"channels": c, "eps": 1e-3}
    else:
        t = {"n.scale": rng.standard_normal(c).astype(np.float32),
             "n.shift": rng.standard_normal(c).astype(np.float32)}
        attrs = {"channels": c, "form": "scale_shift"}
    p = _single(tmp_path, rt, "batch_norm", attrs, [shape], shape, t)
    _run_batches(rt, p, [shape], 7)


@pytest.mark.parametrize("op", ["relu", "relu6", "hardswish", "sigmoid", "identity"])
def test_elementwise(tmp_path, rt, threads, op):
    p = _single(tmp_path, rt, op, {}, [(3, 5, 2)], (3, 5, 2))
    _run_batches(rt, p, [(3, 5, 2)], 8, scale=5.0)


def test_large_elementwise_uses_threads(tmp_path, rt, threads):
    """Big enough for the OpenMP paths of the elementwise/pool ops."""
    nodes = [
        {"name": "a", "op": "add", "inputs": ["x", "x"], "outputs": ["s"],
         "attrs": {"activation": "hardswish"}},
        {"name": "p", "op": "avg_pool2d", "inputs": ["s"], "outputs": ["q"],
         "attrs": {"kernel": [2, 2]}},
        {"name": "g", "op": "global_avg_pool", "inputs": ["q"], "outputs": ["y"]},
    ]
    d = rt.doc([rt.io("x", [None, 64, 40, 40])], [rt.io("y", [None, 64, 1, 1])], nodes)
    p = rt.write(tmp_path / "big.sprt", d, {})
    m = sparse_rt.load(p)
    x = np.random.default_rng(9).standard_normal((3, 64, 40, 40)).astype(np.float32)
    rt.check(p, x, model=m)


def test_add_concat_gap_flatten_reshape_softmax(tmp_path, rt, threads):
    rng = np.random.default_rng(10)
    a_shape, b_shape = (4, 3, 5), (2, 3, 5)
    nodes = [
        {"name": "add", "op": "add", "inputs": ["a", "a2"], "outputs": ["s"],
         "attrs": {"activation": "relu"}},
        {"name": "cat", "op": "concat", "inputs": ["s", "b", "s"], "outputs": ["c"],
         "attrs": {"axis": 1}},
        {"name": "gap", "op": "global_avg_pool", "inputs": ["c"], "outputs": ["g"]},
        {"name": "flat", "op": "flatten", "inputs": ["c"], "outputs": ["f"]},
        {"name": "rs", "op": "reshape", "inputs": ["f"], "outputs": ["r"],
         "attrs": {"shape": [10, -1]}},
        {"name": "sm", "op": "softmax", "inputs": ["r"], "outputs": ["p"], "attrs": {"axis": 1}},
        {"name": "sm2", "op": "softmax", "inputs": ["f"], "outputs": ["q"]},
        {"name": "sm3", "op": "softmax", "inputs": ["c"], "outputs": ["q3"],
         "attrs": {"axis": -2}},
        {"name": "id", "op": "identity", "inputs": ["b"], "outputs": ["bid"]},
    ]
    d = rt.doc([rt.io("a", [None, *a_shape]), rt.io("a2", [-1, *a_shape]),
                rt.io("b", [None, *b_shape])],
               [rt.io("g", [None, 10, 1, 1]), rt.io("p", [None, 10, 15]),
                rt.io("q", [None, 150]), rt.io("q3", [None, 10, 3, 5]),
                rt.io("bid", [None, *b_shape]), rt.io("a", [None, *a_shape])], nodes)
    p = rt.write(tmp_path / "m.sprt", d, {})
    m = sparse_rt.load(p)
    for n in BATCHES:
        xs = {"a": rng.standard_normal((n, *a_shape)).astype(np.float32),
              "a2": rng.standard_normal((n, *a_shape)).astype(np.float32),
              "b": rng.standard_normal((n, *b_shape)).astype(np.float32)}
        out = rt.check(p, xs, model=m, atol=1e-6)
        np.testing.assert_array_equal(out["a"], xs["a"])  # an output that is an input
        np.testing.assert_array_equal(out["bid"], xs["b"])


def test_fixed_batch(tmp_path, rt):
    nodes = [{"name": "r", "op": "relu", "inputs": ["x"], "outputs": ["y"]}]
    d = rt.doc([rt.io("x", [2, 3])], [rt.io("y", [2, 3])], nodes)
    p = rt.write(tmp_path / "fixed.sprt", d, {})
    m = sparse_rt.load(p)
    assert m.inputs[0].shape == (2, 3)
    rt.check(p, np.ones((2, 3), np.float32) * -1, model=m)
    with pytest.raises(ValueError, match=r"expected \[2, 3\]"):
        m(np.ones((3, 3), np.float32))


def test_unused_node_and_batch_zero(tmp_path, rt):
    nodes = [{"name": "dead", "op": "sigmoid", "inputs": ["x"], "outputs": ["z"]},
             {"name": "r", "op": "relu6", "inputs": ["x"], "outputs": ["y"]}]
    d = rt.doc([rt.io("x", [None, 4])], [rt.io("y", [None, 4])], nodes)
    p = rt.write(tmp_path / "dead.sprt", d, {})
    m = sparse_rt.load(p)
    rt.check(p, np.linspace(-8, 8, 12, dtype=np.float32).reshape(3, 4), model=m)
    assert m(np.zeros((0, 4), np.float32)).shape == (0, 4)


# ---- fusions ----------------------------------------------------------------------------------

def _conv_bn_graph(rt, rng, fmt, *, extra_use=False, conv_act="none", after="relu"):
    w = rt.sparse_weight(rng, (6, 4, 3, 3), 1.0 if fmt == "dense" else 0.5)
    t, desc = rt.weight_tensors("c", w, fmt)
    t["c.bias"] = rng.standard_normal(6).astype(np.float32)
    for k in ("mean", "gamma", "beta"):
        t[f"bn.{k}"] = rng.standard_normal(6).astype(np.float32)
    t["bn.var"] = (rng.random(6) + 0.2).astype(np.float32)
    nodes = [
        {"name": "c", "op": "conv2d", "inputs": ["x"], "outputs": ["a"],
         "attrs": {"in_channels": 4, "out_channels": 6, "kernel": [3, 3], "padding": [1, 1],
                   "bias": True, "activation": conv_act}, "weight": desc},
        {"name": "bn", "op": "batch_norm", "inputs": ["a"], "outputs": ["b"],
         "attrs": {"channels": 6, "eps": 1e-4}},
        {"name": "act", "op": after, "inputs": ["b"], "outputs": ["y"]},
    ]
    outputs = [rt.io("y", [None, 6, 5, 5])]
    if extra_use:
        outputs.append(rt.io("a", [None, 6, 5, 5]))
    return rt.doc([rt.io("x", [None, 4, 5, 5])], outputs, nodes), t


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("after", ["relu", "relu6", "hardswish", "sigmoid"])
def test_conv_bn_act_folded(tmp_path, rt, isa, fmt, after):
    d, t = _conv_bn_graph(rt, np.random.default_rng(_seed(fmt, after)), fmt, after=after)
    p = rt.write(tmp_path / "f.sprt", d, t)
    m = _run_batches(rt, p, [(4, 5, 5)], 11)
    (row,) = m.report()
    assert row["name"] == "c" and row["fused"] == ["bn", "act"] and row["activation"] == after


def test_bn_not_folded_when_conv_output_used_elsewhere(tmp_path, rt):
    d, t = _conv_bn_graph(rt, np.random.default_rng(12), "csr", extra_use=True)
    p = rt.write(tmp_path / "f.sprt", d, t)
    m = sparse_rt.load(p)
    rows = m.report()
    assert [r["op"] for r in rows] == ["conv2d", "batch_norm", "relu"]
    x = np.random.default_rng(13).standard_normal((3, 4, 5, 5)).astype(np.float32)
    rt.check(p, x, model=m)


def test_bn_not_folded_after_conv_activation(tmp_path, rt):
    d, t = _conv_bn_graph(rt, np.random.default_rng(14), "dense", conv_act="relu")
    p = rt.write(tmp_path / "f.sprt", d, t)
    m = sparse_rt.load(p)
    assert [r["op"] for r in m.report()] == ["conv2d", "batch_norm", "relu"]
    x = np.random.default_rng(15).standard_normal((3, 4, 5, 5)).astype(np.float32)
    rt.check(p, x, model=m)


def test_linear_and_add_activation_fusion(tmp_path, rt):
    rng = np.random.default_rng(16)
    w = rt.sparse_weight(rng, (8, 8), 0.5)
    t, desc = rt.weight_tensors("fc", w, "csr")
    nodes = [
        {"name": "fc", "op": "linear", "inputs": ["x"], "outputs": ["a"],
         "attrs": {"in_features": 8, "out_features": 8}, "weight": desc},
        {"name": "s", "op": "sigmoid", "inputs": ["a"], "outputs": ["b"]},
        {"name": "add", "op": "add", "inputs": ["b", "x"], "outputs": ["c"]},
        {"name": "r6", "op": "relu6", "inputs": ["c"], "outputs": ["y"]},
    ]
    d = rt.doc([rt.io("x", [None, 8])], [rt.io("y", [None, 8])], nodes)
    p = rt.write(tmp_path / "f.sprt", d, t)
    m = _run_batches(rt, p, [(8,)], 17, scale=4.0)
    rows = m.report()
    assert [(r["name"], r["fused"], r["activation"]) for r in rows] == [
        ("fc", ["s"], "sigmoid"), ("add", ["r6"], "relu6")]


def test_tiny_net_every_isa_and_threads(tmp_path, rt, isa, threads):
    d, t = rt.tiny_net()
    p = rt.write(tmp_path / "net.sprt", d, t)
    m = _run_batches(rt, p, [(3, 11, 9)], 18)
    names = [r["name"] for r in m.report()]
    assert names == ["c1", "c2", "c3", "dw", "cat", "pool", "gap", "fc"]
    fused = {r["name"]: r["fused"] for r in m.report()}
    # the residual add (and its relu) run in c3's epilogue
    assert fused["c1"] == ["bn1", "r1"] and fused["c3"] == ["bn3", "res", "r4"]


def test_memory_plan_reuses_buffers(tmp_path, rt):
    """A chain of 12 relus needs two buffers, whatever its length."""
    nodes = [{"name": f"r{i}", "op": "sigmoid" if i % 2 else "relu",
              "inputs": [f"v{i}" if i else "x"], "outputs": [f"v{i + 1}"]} for i in range(12)]
    d = rt.doc([rt.io("x", [None, 1000])], [rt.io("v12", [None, 1000])], nodes)
    p = rt.write(tmp_path / "chain.sprt", d, {})
    m = sparse_rt.load(p)
    assert m._m.activation_bytes_per_sample <= 2 * 1008 * 4
    assert "2 reused buffers" in str(m)
    rt.check(p, np.random.default_rng(19).standard_normal((3, 1000)).astype(np.float32),
             model=m)


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("groups", [1, 4, 16])
def test_conv2d_large_enough_for_threads(tmp_path, rt, threads, fmt, groups):
    """Layers above the work threshold run their OpenMP paths (im2col, row splits, planes)."""
    rng = np.random.default_rng(_seed(fmt, groups))
    w = rt.sparse_weight(rng, (32, 16 // groups, 3, 3), 1.0 if fmt == "dense" else 0.5)
    t, desc = rt.weight_tensors("n", w, fmt, groups=groups)
    t["n.bias"] = rng.standard_normal(32).astype(np.float32)
    attrs = {"in_channels": 16, "out_channels": 32, "kernel": [3, 3], "padding": [1, 1],
             "stride": [1, 2], "groups": groups, "bias": True, "activation": "relu"}
    p = _single(tmp_path, rt, "conv2d", attrs, [(16, 40, 40)], (32, 40, 20), t, desc)
    _run_batches(rt, p, [(16, 40, 40)], 20)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_linear_large_enough_for_threads(tmp_path, rt, threads, fmt):
    rng = np.random.default_rng(_seed("big", fmt))
    w = rt.sparse_weight(rng, (300, 1000), 1.0 if fmt == "dense" else 0.5)
    t, desc = rt.weight_tensors("n", w, fmt)
    p = _single(tmp_path, rt, "linear", {"in_features": 1000, "out_features": 300,
                                         "activation": "hardswish"}, [(1000,)], (300,), t, desc)
    _run_batches(rt, p, [(1000,)], 21)


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
def test_depthwise_conv_bn_relu6_folded(tmp_path, rt, threads, fmt):
    rng = np.random.default_rng(_seed("dwbn", fmt))
    w = rt.sparse_weight(rng, (12, 1, 3, 3), 1.0 if fmt == "dense" else 0.6)
    t, desc = rt.weight_tensors("c", w, fmt, groups=6)
    t.update({"bn.scale": rng.standard_normal(12).astype(np.float32),
              "bn.shift": rng.standard_normal(12).astype(np.float32)})
    nodes = [
        {"name": "c", "op": "conv2d", "inputs": ["x"], "outputs": ["a"],
         "attrs": {"in_channels": 6, "out_channels": 12, "kernel": [3, 3], "padding": [1, 1],
                   "stride": [2, 2], "groups": 6}, "weight": desc},
        {"name": "bn", "op": "batch_norm", "inputs": ["a"], "outputs": ["b"],
         "attrs": {"channels": 12, "form": "scale_shift"}},
        {"name": "act", "op": "relu6", "inputs": ["b"], "outputs": ["y"]},
    ]
    d = rt.doc([rt.io("x", [None, 6, 9, 8])], [rt.io("y", [None, 12, 5, 4])], nodes)
    p = rt.write(tmp_path / "dw.sprt", d, t)
    m = _run_batches(rt, p, [(6, 9, 8)], 22, scale=3.0)
    (row,) = m.report()
    assert row["fused"] == ["bn", "act"]


def _window_out(size, k, s, p0, p1, d, ceil_mode=False):
    span = size + p0 + p1 - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and out >= 1 and (out - 1) * s >= size + p0:
        out -= 1
    return out


def _random_conv_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        cin, cout = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        k = [int(rng.integers(1, 6)), int(rng.integers(1, 6))]
        s = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        d = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        pad = [int(rng.integers(0, 5)) for _ in range(4)]
        hw = [int(rng.integers(1, 12)), int(rng.integers(1, 12))]
        ho = _window_out(hw[0], k[0], s[0], pad[0], pad[2], d[0])
        wo = _window_out(hw[1], k[1], s[1], pad[1], pad[3], d[1])
        if ho >= 1 and wo >= 1:
            cases.append((cin, cout, k, s, pad, d, g, hw, (cout, ho, wo)))
    return cases


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
def test_conv2d_random_geometry(tmp_path, rt, fmt):
    """Random stride/padding/dilation/groups/kernel/size combinations, every conv path."""
    for i, (cin, cout, k, s, pad, d, g, hw, oshape) in enumerate(_random_conv_cases(40, 23)):
        rng = np.random.default_rng(i)
        w = rt.sparse_weight(rng, (cout, cin // g, *k), 1.0 if fmt == "dense" else 0.5)
        t, desc = rt.weight_tensors("n", w, fmt, groups=g)
        attrs = {"in_channels": cin, "out_channels": cout, "kernel": k, "stride": s,
                 "padding": pad, "dilation": d, "groups": g}
        p = _single(tmp_path, rt, "conv2d", attrs, [(cin, *hw)], oshape, t, desc)
        _run_batches(rt, p, [(cin, *hw)], i)


def test_pools_random_geometry(tmp_path, rt):
    rng = np.random.default_rng(31)
    done = 0
    while done < 40:
        k = [int(rng.integers(1, 5)), int(rng.integers(1, 5))]
        s = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        pad = [int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)),
               int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1))]
        hw = [int(rng.integers(1, 10)), int(rng.integers(1, 10))]
        ceil = bool(rng.integers(0, 2))
        is_max = done % 2 == 0
        d = [int(rng.integers(1, 3)), int(rng.integers(1, 3))] if is_max else [1, 1]
        ho = _window_out(hw[0], k[0], s[0], pad[0], pad[2], d[0], ceil)
        wo = _window_out(hw[1], k[1], s[1], pad[1], pad[3], d[1], ceil)
        if ho < 1 or wo < 1:
            continue
        attrs = {"kernel": k, "stride": s, "padding": pad, "ceil_mode": ceil}
        if is_max:
            attrs["dilation"] = d
        else:
            attrs["count_include_pad"] = bool(rng.integers(0, 2))
        op = "max_pool2d" if is_max else "avg_pool2d"
        p = _single(tmp_path, rt, op, attrs, [(2, *hw)], (2, ho, wo))
        _run_batches(rt, p, [(2, *hw)], done)
        done += 1
