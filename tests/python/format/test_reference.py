"""The numpy reference executor against torch (an independent implementation of every op)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from sparse_rt.format import encode_weight, read_model, write_model
from sparse_rt.reference import run_reference

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-5, 1e-5
BATCHES = (1, 3)


def _single_op(tmp_path, fh, op, attrs, in_shapes, out_shape, tensors=None, weight=None):
    """Write a one-node model; returns the read ModelFile (shape inference vs torch's)."""
    names = [f"x{i}" for i in range(len(in_shapes))]
    node = {"name": "n", "op": op, "inputs": names, "outputs": ["y"], "attrs": attrs}
    if weight is not None:
        node["weight"] = weight
    d = fh.doc([fh.io(n, [None, *s]) for n, s in zip(names, in_shapes)],
               [fh.io("y", [None, *out_shape])], [node])
    p = tmp_path / f"{op}.sprt"
    write_model(p, d, tensors or {})
    return read_model(p)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _sparse_weight(rng, shape, density=0.5):
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) > density] = 0
    return w


ACTS = {"none": lambda y: y, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
        "sigmoid": torch.sigmoid}

CONV_CASES = [
    # cin, cout, (kh, kw), stride, padding, dilation, groups, bias, act, (H, W)
    (3, 5, (3, 3), (1, 1), [1, 1], (1, 1), 1, True, "relu", (7, 9)),
    (4, 6, (3, 2), (2, 3), [0, 1, 2, 1], (1, 1), 2, False, "none", (11, 8)),
    (6, 6, (3, 3), (2, 2), [1, 1], (1, 1), 6, True, "relu6", (9, 9)),  # depthwise
    (4, 8, (1, 1), (1, 1), [0, 0], (1, 1), 1, True, "hardswish", (5, 3)),
    (3, 4, (5, 3), (1, 2), [2, 1], (2, 1), 1, False, "sigmoid", (13, 7)),
    (2, 4, (7, 7), (2, 2), [3, 3], (1, 1), 1, True, "none", (15, 15)),
]


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[2]}s{c[3]}g{c[6]}{c[8]}")
def test_conv2d(tmp_path, fh, case, fmt):
    cin, cout, k, s, pad, dil, g, bias, act, hw = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    w = _sparse_weight(rng, (cout, cin // g, *k), 0.6 if fmt != "dense" else 1.0)
    K = cin // g * k[0] * k[1]
    blocksize = None
    if fmt == "bsr":
        r = 2 if (cout // g) % 2 == 0 else 1
        c = next(c for c in (4, 3, 2, 1) if K % c == 0)
        blocksize = (r, c)
    t = encode_weight("n", w, fmt, blocksize=blocksize)
    b = rng.standard_normal(cout).astype(np.float32)
    if bias:
        t["n.bias"] = b
    pad4 = pad * 2 if len(pad) == 2 else pad  # [top, left, bottom, right]
    attrs = {"in_channels": cin, "out_channels": cout, "kernel": list(k), "stride": list(s),
             "padding": pad, "dilation": list(dil), "groups": g, "bias": bias,
             "activation": act}
    desc = {"format": fmt, "shape": [cout, K]}
    if blocksize:
        desc["blocksize"] = list(blocksize)
    for n in BATCHES:
        x = rng.standard_normal((n, cin, *hw)).astype(np.float32)
        xt = F.pad(_t(x), (pad4[1], pad4[3], pad4[0], pad4[2]))
        ref = ACTS[act](F.conv2d(xt, _t(w), _t(b) if bias else None, stride=s, dilation=dil,
                                 groups=g)).numpy()
        m = _single_op(tmp_path, fh, "conv2d", attrs, [(cin, *hw)], ref.shape[1:], t, desc)
        np.testing.assert_allclose(run_reference(m, x), ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fmt", ["dense", "csr", "bsr"])
@pytest.mark.parametrize("act", list(ACTS))
def test_linear(tmp_path, fh, fmt, act):
    rng = np.random.default_rng(3)
    w = _sparse_weight(rng, (6, 20))
    b = rng.standard_normal(6).astype(np.float32)
    t = {**encode_weight("n", w, fmt, blocksize=(3, 5)), "n.bias": b}
    desc = {"format": fmt, "shape": [6, 20], **({"blocksize": [3, 5]} if fmt == "bsr" else {})}
    m = _single_op(tmp_path, fh, "linear", {"in_features": 20, "out_features": 6, "bias": True,
                                            "activation": act}, [(20,)], (6,), t, desc)
    for n in BATCHES:
        x = rng.standard_normal((n, 20)).astype(np.float32)
        ref = ACTS[act](F.linear(_t(x), _t(w), _t(b))).numpy()
        np.testing.assert_allclose(run_reference(m, x), ref, rtol=RTOL, atol=ATOL)


MAXPOOL_CASES = [
    # k, s, padding, dilation, ceil, (H, W)
    ((3, 3), (2, 2), [1, 1], (1, 1), False, (9, 9)),
    ((3, 3), (2, 2), [1, 1], (1, 1), True, (10, 7)),
    ((2, 2), (2, 2), [0, 0], (1, 1), True, (5, 7)),
    ((3, 2), (1, 2), [1, 0], (2, 1), False, (8, 6)),
    ((3, 3), (2, 2), [0, 0], (1, 1), True, (2, 2)),  # a ceil window past the input
    ((2, 3), (3, 2), [1, 1], (2, 2), True, (7, 9)),
]


@pytest.mark.parametrize("case", MAXPOOL_CASES)
def test_max_pool2d(tmp_path, fh, case):
    k, s, pad, dil, ceil, hw = case
    rng = np.random.default_rng(4)
    attrs = {"kernel": list(k), "stride": list(s), "padding": pad, "dilation": list(dil),
             "ceil_mode": ceil}
    for n in BATCHES:
        x = rng.standard_normal((n, 3, *hw)).astype(np.float32)
        ref = F.max_pool2d(_t(x), k, s, pad, dil, ceil_mode=ceil).numpy()
        m = _single_op(tmp_path, fh, "max_pool2d", attrs, [(3, *hw)], ref.shape[1:])
        np.testing.assert_array_equal(run_reference(m, x), ref)


AVGPOOL_CASES = [
    # k, s, padding, ceil, count_include_pad, (H, W)
    ((3, 3), (2, 2), [1, 1], False, True, (9, 9)),
    ((3, 3), (2, 2), [1, 1], False, False, (9, 8)),
    ((3, 3), (2, 2), [1, 1], True, True, (10, 7)),
    ((3, 3), (2, 2), [1, 1], True, False, (10, 7)),
    ((2, 4), (3, 1), [1, 2], True, True, (8, 11)),
    ((2, 2), (2, 2), [0, 0], True, True, (5, 5)),
    ((3, 3), (2, 2), [0, 0], True, False, (2, 2)),
]


@pytest.mark.parametrize("case", AVGPOOL_CASES)
def test_avg_pool2d(tmp_path, fh, case):
    k, s, pad, ceil, cip, hw = case
    rng = np.random.default_rng(5)
    attrs = {"kernel": list(k), "stride": list(s), "padding": pad, "ceil_mode": ceil,
             "count_include_pad": cip}
    for n in BATCHES:
        x = rng.standard_normal((n, 2, *hw)).astype(np.float32)
        ref = F.avg_pool2d(_t(x), k, s, pad, ceil_mode=ceil, count_include_pad=cip).numpy()
        m = _single_op(tmp_path, fh, "avg_pool2d", attrs, [(2, *hw)], ref.shape[1:])
        np.testing.assert_allclose(run_reference(m, x), ref, rtol=RTOL, atol=ATOL)


def test_avg_pool2d_default_stride_is_kernel(tmp_path, fh):
    m = _single_op(tmp_path, fh, "avg_pool2d", {"kernel": [2, 3]}, [(1, 6, 9)], (1, 3, 3))
    assert m.node("n").attrs["stride"] == [2, 3]
    assert m.node("n").attrs["count_include_pad"] is True


@pytest.mark.parametrize("form", ["stats", "scale_shift"])
@pytest.mark.parametrize("shape", [(5, 4, 3), (5,)])
def test_batch_norm(tmp_path, fh, form, shape):
    rng = np.random.default_rng(6)
    c = shape[0]
    mean, gamma, beta = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    var = (rng.random(c) + 0.1).astype(np.float32)
    eps = 1e-3
    if form == "stats":
        t = {"n.mean": mean, "n.var": var, "n.gamma": gamma, "n.beta": beta}
        attrs = {"channels": c, "eps": eps}
    else:
        scale = (gamma / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
        shift = (beta - mean * scale).astype(np.float32)
        t = {"n.scale": scale, "n.shift": shift}
        attrs = {"channels": c, "form": "scale_shift"}
    m = _single_op(tmp_path, fh, "batch_norm", attrs, [shape], shape, t)
    for n in BATCHES:
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        ref = F.batch_norm(_t(x), _t(mean), _t(var), _t(gamma), _t(beta), False, 0.0,
                           eps).numpy()
        np.testing.assert_allclose(run_reference(m, x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["relu", "relu6", "hardswish", "sigmoid", "identity"])
def test_elementwise(tmp_path, fh, op):
    m = _single_op(tmp_path, fh, op, {}, [(3, 5, 2)], (3, 5, 2))
    fn = {**ACTS, "identity": lambda y: y}[op]
    for n in BATCHES:
        x = (np.random.default_rng(7).standard_normal((n, 3, 5, 2)) * 5).astype(np.float32)
        np.testing.assert_allclose(run_reference(m, x), fn(_t(x)).numpy(), rtol=RTOL, atol=1e-6)


def test_add_concat_gap_flatten_reshape_softmax(tmp_path, fh):
    rng = np.random.default_rng(8)
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
    ]
    d = fh.doc([fh.io("a", [None, *a_shape]), fh.io("a2", [-1, *a_shape]),
                fh.io("b", [None, *b_shape])],
               [fh.io("g", [None, 10, 1, 1]), fh.io("p", [None, 10, 15]),
                fh.io("q", [None, 150])], nodes)
    p = tmp_path / "m.sprt"
    write_model(p, d, {})
    for n in BATCHES:
        a, a2 = (rng.standard_normal((n, *a_shape)).astype(np.float32) for _ in range(2))
        b = rng.standard_normal((n, *b_shape)).astype(np.float32)
        out = run_reference(p, {"a": a, "a2": a2, "b": b})
        s = F.relu(_t(a) + _t(a2))
        c = torch.cat([s, _t(b), s], 1)
        np.testing.assert_allclose(out["g"], F.adaptive_avg_pool2d(c, 1).numpy(), rtol=RTOL,
                                   atol=ATOL)
        np.testing.assert_allclose(out["p"], torch.softmax(c.reshape(n, 10, 15), 1).numpy(),
                                   rtol=RTOL, atol=1e-7)
        np.testing.assert_allclose(out["q"], torch.softmax(c.flatten(1), -1).numpy(),
                                   rtol=RTOL, atol=1e-7)


class _Net(torch.nn.Module):
    """torch twin of the small_cnn fixture graph."""

    def __init__(self, d, t, dense):
        super().__init__()
        self.d, self.t, self.w = d, t, {k: _t(v) for k, v in dense.items()}

    def forward(self, x):
        t = {k: _t(v) for k, v in self.t.items()}
        h1 = F.relu(F.conv2d(F.pad(x, (0, 2, 1, 1)), self.w["c1"], t["c1.bias"], stride=(2, 1)))
        h2 = F.conv2d(h1, self.w["c2"], padding=1)
        h3 = F.batch_norm(h2, t["bn.mean"], t["bn.var"], t["bn.gamma"], t["bn.beta"], False,
                          0.0, 1e-3)
        h4 = F.relu(h3 + h1)
        h5 = F.hardswish(F.conv2d(h4, self.w["dw"], padding=1, groups=8))
        h7 = F.max_pool2d(torch.cat([h4, h5], 1), 3, 2, 1, ceil_mode=True)
        return F.linear(F.adaptive_avg_pool2d(h7, 1).flatten(1), self.w["fc"], t["fc.bias"])


@pytest.mark.parametrize("n", BATCHES)
def test_small_cnn_end_to_end(tmp_path, cnn, n):
    d, t, dense = cnn
    p = tmp_path / "cnn.sprt"
    write_model(p, d, t)
    m = read_model(p)
    x = np.random.default_rng(9).standard_normal((n, 3, 9, 7)).astype(np.float32)
    ref = _Net(d, t, dense)(_t(x)).detach().numpy()
    y = run_reference(m, x)
    assert y.dtype == np.float32 and y.shape == (n, 10)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    every = run_reference(m, {"x": x}, intermediates=True)
    assert set(every) == {"x"} | {nd["outputs"][0] for nd in d["nodes"]}
    np.testing.assert_array_equal(every["y"], y)


def test_reference_input_checks(tmp_path, cnn):
    d, t, _ = cnn
    p = tmp_path / "cnn.sprt"
    write_model(p, d, t)
    with pytest.raises(ValueError, match=r"expected \[N, 3, 9, 7\]"):
        run_reference(p, np.zeros((1, 3, 9, 8), np.float32))
    with pytest.raises(ValueError, match="missing input 'x'"):
        run_reference(p, {"z": np.zeros((1, 3, 9, 7), np.float32)})
    out = run_reference(p, {"x": np.zeros((2, 3, 9, 7))})  # dict in -> dict out, f64 accepted
    assert list(out) == ["y"] and out["y"].shape == (2, 10)
