"""sparse_rt.ops.Conv2d (direct sparse CSR/BSR, direct depthwise, dense) against
torch.nn.functional.conv2d, under every ISA path and 1 and 2 threads."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sparse_rt
from sparse_rt import BSR, CSR
from sparse_rt.ops import Conv2d

_ROOT = pathlib.Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("cases_conv", _ROOT / "benchmarks" / "cases_conv.py")
cases_conv = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("cases_conv", cases_conv)
_spec.loader.exec_module(cases_conv)

ISAS = sparse_rt.runtime_info()["isa_available"]
THREADS = (1, 2)
ACTS = (None, "relu", "relu6")


@contextmanager
def runtime(isa: str, threads: int):
    old_isa, old_threads = sparse_rt.get_isa(), sparse_rt.get_num_threads()
    sparse_rt.set_isa(isa)
    sparse_rt.set_num_threads(threads)
    try:
        yield
    finally:
        sparse_rt.set_isa(old_isa)
        sparse_rt.set_num_threads(old_threads)


def make_case(seed, n, c, o, h, w, k, stride, pad, groups, sparsity):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
    weight[rng.random(weight.shape) < sparsity] = 0.0
    if sparsity >= 1.0:
        weight[:] = 0.0
    bias = rng.standard_normal(o).astype(np.float32)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    return weight, bias, x


def torch_conv(x, weight, bias, stride, pad, groups, activation):
    y = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(weight).double(),
        None if bias is None else torch.from_numpy(bias).double(),
        stride=stride, padding=pad, groups=groups,
    )
    if activation == "relu":
        y = torch.relu(y)
    elif activation == "relu6":
        y = torch.clamp(y, 0.0, 6.0)
    return y.numpy()


def check(y, ref, case):
    assert y.shape == ref.shape, f"shape {y.shape} != torch {ref.shape} for {case}"
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    err = float(np.abs(y - ref).max()) if ref.size else 0.0
    assert err <= 2e-4 * scale, f"max |error| {err:.3g} (scale {scale:.3g}) for {case}"


# (n, c, o, h, w, k, stride, pad, groups): sizes below/at/above the tiles, odd spatial sizes,
# every kernel size, stride 1/2, padding, groups incl. depthwise and grouped pointwise.
GEOMETRIES = [
    (1, 8, 16, 7, 7, 1, 1, 0, 1),
    (3, 8, 16, 13, 13, 1, 2, 0, 1),
    (1, 16, 16, 13, 13, 3, 1, 1, 1),
    (3, 16, 8, 7, 9, 3, 2, 1, 1),
    (1, 8, 8, 1, 1, 3, 1, 1, 1),
    (1, 8, 16, 13, 13, 5, 1, 2, 1),
    (1, 8, 8, 13, 13, 5, 2, 2, 1),
    (1, 4, 8, 13, 13, 7, 2, 3, 1),
    (1, 16, 16, 13, 13, 3, 1, 1, 16),
    (3, 16, 16, 13, 13, 3, 2, 1, 16),
    (1, 16, 32, 7, 7, 5, 1, 2, 16),
    (1, 16, 32, 13, 13, 1, 1, 0, 4),
    (1, 16, 16, 7, 7, 3, 1, 0, 2),
    (1, 12, 24, 19, 17, 3, 1, 1, 1),
]
SPARSITIES = (0.0, 0.5, 0.9, 1.0)


def formats_for(geom):
    n, c, o, h, w, k, stride, pad, groups = geom
    out = [("direct", None), ("csr", None)]
    if o % 4 == 0:
        out.append(("bsr", (4, 1)))
    if o % 8 == 0 and (c // groups * k * k) % k == 0:
        out.append(("bsr", (8, k)))
    return out


# sparse_rt's own kernels: every ISA path with 1 thread, the best path also with 2 threads.
# The oneDNN dense path does not depend on the ISA cap: it runs once per thread count.
PATHS = [(isa, 1) for isa in ISAS] + [(ISAS[-1], 2)]
CASES = [
    pytest.param(geom, sp, fmt, block, isa, threads,
                 id=f"{'x'.join(map(str, geom))}-s{sp}-{fmt}{block or ''}-{isa}-t{threads}")
    for geom in GEOMETRIES
    for sp in SPARSITIES
    for fmt, block in formats_for(geom)
    for isa, threads in PATHS
] + [
    pytest.param(geom, sp, "dense", None, ISAS[-1], threads,
                 id=f"{'x'.join(map(str, geom))}-s{sp}-dense-t{threads}")
    for geom in GEOMETRIES
    for sp in (0.0, 0.5)
    for threads in THREADS
]


@pytest.mark.parametrize("geom,sparsity,fmt,block,isa,threads", CASES)
def test_conv_matches_torch(geom, sparsity, fmt, block, isa, threads):
    n, c, o, h, w, k, stride, pad, groups = geom
    seed = abs(hash((geom, sparsity))) % 2**32
    act = ACTS[seed % 3]
    weight, bias, x = make_case(seed, n, c, o, h, w, k, stride, pad, groups, sparsity)
    case = dict(geom=geom, sparsity=sparsity, format=fmt, block=block, isa=isa,
                threads=threads, activation=act, seed=seed)
    with runtime(isa, threads):
        layer = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups,
                       activation=act, format=fmt, block=block)
        y = layer(x)
        if fmt != "dense" or groups != c:
            assert isa in layer.kernel or layer.kernel == "f32_conv__onednn" or (
                isa == "scalar" and "reference" in layer.kernel), (layer.kernel, case)
    case["kernel"] = layer.kernel
    check(y, torch_conv(x, weight, bias, stride, pad, groups, act), case)


@pytest.mark.parametrize("isa", ISAS)
def test_channel_blocks_and_tiles(monkeypatch, isa):
    """The partial-sum path (input channels split into blocks, weights stored block-major) and
    odd task tiles; the last geometry has one tile, so the threads split the row groups."""
    monkeypatch.setenv("SPARSE_RT_CONV_CBLOCK", "3")
    monkeypatch.setenv("SPARSE_RT_CONV_TILE", "37")
    for geom in [(2, 16, 16, 13, 11, 3, 1, 1, 1), (1, 16, 32, 13, 13, 3, 2, 1, 2),
                 (1, 10, 8, 9, 9, 1, 1, 0, 1), (1, 12, 24, 5, 5, 3, 1, 1, 1)]:
        n, c, o, h, w, k, stride, pad, groups = geom
        weight, bias, x = make_case(7, *geom, 0.6)
        for fmt, block in [("csr", None), ("bsr", (4, 1)), ("direct", None)]:
            with runtime(isa, 2):
                layer = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups,
                               format=fmt, block=block, activation="relu")
                y = layer(x)
            check(y, torch_conv(x, weight, bias, stride, pad, groups, "relu"),
                  dict(geom=geom, format=fmt, isa=isa, kernel=layer.kernel, cblock=3, tile=37))


@pytest.mark.parametrize("shape", cases_conv.SHAPES, ids=lambda s: s.name)
def test_benchmark_shapes(shape):
    """Every benchmark shape at batch 1 (s=0.9 sparse, or dense for depthwise), 2 threads."""
    sp = 0.0 if shape.depthwise else 0.9
    weight, bias, x = make_case(1, 1, shape.in_channels, shape.out_channels, shape.size,
                                shape.size, shape.kernel, shape.stride, shape.padding,
                                shape.groups, sp)
    with runtime(ISAS[-1], 2):
        layer = Conv2d(weight, bias, stride=shape.stride, padding=shape.padding,
                       groups=shape.groups, format=cases_conv.format_for(shape, sp))
        y = layer(x)
    check(y, torch_conv(x, weight, bias, shape.stride, shape.padding, shape.groups, None),
          dict(shape=shape, kernel=layer.kernel))


@pytest.mark.parametrize("isa", ISAS)
def test_nan_propagates_through_clamp(isa):
    weight = np.ones((4, 2, 3, 3), np.float32)
    x = np.zeros((1, 2, 5, 5), np.float32)
    x[0, 1, 2, 2] = np.nan
    with runtime(isa, 1):
        for fmt in ("csr", "bsr"):
            y = Conv2d(weight, padding=1, activation="relu6", format=fmt, block=(4, 1))(x)
            assert np.isnan(y[0, :, 1:4, 1:4]).all(), (fmt, isa, y[0, 0])
            assert (y[0, :, 0, :] == 0).all(), (fmt, isa)


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_nan_propagates_through_dense_paths(act):
    """The dense path (oneDNN where built, else our direct kernels) keeps NaN through ReLU and
    ReLU6 as torch does; oneDNN's own activation post-ops would turn it into 0."""
    weight = np.random.default_rng(0).standard_normal((32, 32, 3, 3)).astype(np.float32)
    x = np.ones((1, 32, 8, 8), np.float32)
    x[0, :, 3, 3] = np.nan
    layer = Conv2d(weight, padding=1, format="dense", activation=act)
    y = layer(x)
    assert np.isnan(y[0, :, 2:5, 2:5]).all(), layer.kernel
    assert not np.isnan(y[0, :, 6:, 6:]).any(), layer.kernel


def test_sparse_weight_inputs_and_repr():
    weight, bias, x = make_case(3, 2, 8, 16, 9, 9, 3, 1, 1, 2, 0.8)
    w2 = weight.reshape(16, -1)
    ref = torch_conv(x, weight, bias, 1, 1, 2, None)
    for w, fmt, kw in [(CSR.from_dense(w2), "auto", {}), (BSR.from_dense(w2, (4, 3)), "auto", {}),
                       (BSR.from_dense(w2, (4, 3)), "bsr", {"block": (8, 1)}),
                       (CSR.from_dense(w2), "dense", {})]:
        layer = Conv2d(w, bias, padding=1, groups=2, kernel_size=(3, 3), format=fmt, **kw)
        check(layer(x), ref, dict(weight=w, format=fmt, kernel=layer.kernel))
        assert "Conv2d(" in repr(layer)
    assert Conv2d(CSR.from_dense(np.ones((16, 36), np.float32)), kernel_size=3,
                  groups=2).format == "direct"  # 4 input channels per group: direct kernels, not oneDNN
    assert Conv2d(weight * 0, groups=2).format == "csr"
    assert Conv2d(np.ones((8, 1, 3, 3), np.float32), groups=8).format == "dense"
    dw = Conv2d(np.ones((8, 1, 3, 3), np.float32), groups=8, format="direct")
    assert "spconv_1x" in dw.kernel
    assert Conv2d(weight, groups=2, stride=2).output_shape((5, 8, 9, 9)) == (5, 16, 4, 4)


@pytest.mark.parametrize(
    "kwargs,x_shape,match",
    [
        (dict(), (1, 4, 5), "4-D"),
        (dict(), (1, 3, 5, 5), r"\(N, 4, H, W\)"),
        (dict(), (1, 4, 2, 2), "smaller than the kernel"),
        (dict(dilation=2), None, "dilation"),
        (dict(format="coo"), None, "format"),
        (dict(format="bsr"), None, "block"),
        (dict(stride=0), None, "stride"),
        (dict(padding=-1), None, "padding"),
        (dict(groups=4), None, "groups"),
        (dict(bias=np.zeros(3, np.float32)), None, "bias"),
        (dict(activation="gelu"), None, "activation"),
        (dict(kernel_size=5), None, "kernel_size"),
        (dict(format="bsr", block=(4, 1)), None, "blocksize"),
    ],
)
def test_bad_input_raises_value_error(kwargs, x_shape, match):
    weight = np.ones((6, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        layer = Conv2d(weight, **kwargs)
        layer(np.ones(x_shape, np.float32))


def test_bad_dtypes_and_sparse_without_kernel_size():
    weight = np.ones((6, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="float32"):
        Conv2d(weight.astype(np.float64))
    with pytest.raises(ValueError, match="float32"):
        Conv2d(weight)(np.ones((1, 4, 5, 5)))
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(CSR.from_dense(weight.reshape(6, -1)))
    with pytest.raises(ValueError, match="multiple of 25"):
        Conv2d(CSR.from_dense(weight.reshape(6, -1)), kernel_size=5)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 2), cpg=st.integers(1, 5), opg=st.integers(1, 6), groups=st.integers(1, 3),
    h=st.integers(1, 12), w=st.integers(1, 12), k=st.sampled_from([1, 2, 3, 5]),
    stride=st.integers(1, 3), pad=st.integers(0, 2), sparsity=st.sampled_from([0.0, 0.5, 0.9]),
    fmt=st.sampled_from(["csr", "bsr", "dense", "direct"]), isa=st.sampled_from(ISAS),
    threads=st.sampled_from(THREADS), act=st.sampled_from(ACTS), seed=st.integers(0, 2**16),
)
def test_property_random_shapes(n, cpg, opg, groups, h, w, k, stride, pad, sparsity, fmt, isa,
                                threads, act, seed):
    c, o = cpg * groups, opg * groups
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    weight, bias, x = make_case(seed, n, c, o, h, w, k, stride, pad, groups, sparsity)
    case = dict(n=n, c=c, o=o, h=h, w=w, k=k, stride=stride, pad=pad, groups=groups,
                sparsity=sparsity, format=fmt, isa=isa, threads=threads, act=act, seed=seed)
    with runtime(isa, threads):
        layer = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups, activation=act,
                       format=fmt, block=(opg if fmt == "bsr" else None, 1) if fmt == "bsr" else None)
        y = layer(x)
    case["kernel"] = layer.kernel
    check(y, torch_conv(x, weight, bias, stride, pad, groups, act), case)


def _act(y, activation):
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "relu6":
        return np.clip(y, 0.0, 6.0)
    return y


@pytest.mark.parametrize("cblock", [None, "3"])
@pytest.mark.parametrize("isa", ISAS)
def test_residual_epilogue(monkeypatch, isa, cblock):
    """conv + residual + activation in the kernels' epilogue, every kernel of the ISA path
    (csr: 1 row per group, bsr 4x1: 4, direct/bsr 8: 8), padded/strided convs (garbage
    columns of the extended grid), pixel tails, and with input-channel blocks of 3 the
    partial-sum passes (the residual is added once, by the last block)."""
    if cblock:
        monkeypatch.setenv("SPARSE_RT_CONV_CBLOCK", cblock)
        monkeypatch.setenv("SPARSE_RT_CONV_TILE", "37")
    kernels = set()
    for geom in [(2, 16, 16, 13, 11, 3, 1, 1, 1), (1, 8, 16, 13, 13, 1, 2, 0, 1),
                 (3, 16, 8, 7, 9, 3, 2, 1, 1), (1, 12, 24, 19, 17, 3, 1, 1, 1),
                 (1, 16, 16, 13, 13, 3, 1, 1, 16), (1, 8, 8, 1, 1, 3, 1, 1, 1)]:
        n, c, o, h, w, k, stride, pad, groups = geom
        weight, bias, x = make_case(11, *geom, 0.6)
        for fmt, block in formats_for(geom) + [("dense", None)]:
            for threads in THREADS:
                act = ACTS[(len(kernels) + threads) % 3]
                with runtime(isa, threads):
                    layer = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups,
                                   format=fmt, block=block, activation=act)
                    res = np.random.default_rng(threads).standard_normal(
                        layer.output_shape(x.shape)).astype(np.float32) * 3
                    y = layer(x, res)
                    lay = layer.layout(h, w)  # a shifted-taps layout may run a wider tile
                kernels.add(lay["kernel"] if lay else layer.kernel)
                ref = _act(torch_conv(x, weight, bias, stride, pad, groups, None) + res, act)
                check(y, ref, dict(geom=geom, format=fmt, isa=isa, threads=threads, act=act,
                                   kernel=layer.kernel, cblock=cblock))
    mine = {name for name, kisa, *_ in sparse_rt._core.spconv_kernels()
            if kisa == isa or (isa == "scalar" and "reference" in name)}
    assert mine <= kernels, sorted(mine - kernels)


def test_residual_nan_and_bad_shape():
    weight = np.ones((4, 2, 3, 3), np.float32)
    x = np.zeros((1, 2, 5, 5), np.float32)
    res = np.zeros((1, 4, 5, 5), np.float32)
    res[0, 1, 2, 3] = np.nan
    res[0, 2, 0, 0] = -1.0
    for isa in ISAS:
        with runtime(isa, 1):
            for fmt in ("csr", "bsr", "direct"):
                y = Conv2d(weight, padding=1, activation="relu6", format=fmt, block=(4, 1))(x, res)
                assert np.isnan(y[0, 1, 2, 3]) and np.isnan(y).sum() == 1, (fmt, isa)
                assert y[0, 2, 0, 0] == 0.0 and (y[0, 0] == 0).all(), (fmt, isa)
    with pytest.raises(ValueError, match="residual must have shape"):
        Conv2d(weight, padding=1)(x, res[:, :3])
    with pytest.raises(ValueError, match="float32"):
        Conv2d(weight, padding=1)(x, res.astype(np.float64))


# Shifted taps (kernels/spconv/spconv.h): rows padded to 16-float multiples and column shifts
# applied to the accumulators. (n, c, o, h, w, k, stride, pad, groups) chosen so the padded
# row pitch is 16, 32 or 64 floats with 2..5 shifts, plus layouts that must not use them.
SHIFTED_GEOMETRIES = [
    (1, 16, 16, 56, 56, 3, 1, 1, 1),   # pitch 64, 3 shifts, 4 whole-row tiles
    (2, 16, 24, 28, 28, 3, 1, 1, 1),   # pitch 32
    (1, 16, 16, 14, 14, 3, 1, 1, 1),   # pitch 16 (already), all taps aligned now
    (1, 8, 16, 13, 11, 3, 1, 1, 1),    # pitch 16, w < h
    (1, 16, 16, 56, 56, 3, 2, 1, 1),   # stride 2: phase rows of 29 -> pitch 32, 2 shifts
    (1, 8, 8, 12, 12, 5, 1, 2, 1),     # 5x5: 5 shifts
    (1, 16, 16, 14, 14, 3, 1, 1, 16),  # depthwise
    (1, 16, 32, 28, 28, 3, 1, 1, 2),   # grouped
    (1, 8, 8, 9, 112, 3, 1, 1, 1),     # pitch 128: only the 128-pixel AVX-512 tile
    # AVX-512, several rows per vector (spconv.h kSpconvZeroPastTile): one tile per image
    (1, 16, 16, 7, 7, 3, 1, 1, 1),     # rows of 8 sharing their padding column, 6 shifts
    (2, 16, 24, 7, 7, 3, 1, 1, 2),     # the same, batch 2, grouped
    (1, 16, 16, 14, 14, 3, 2, 1, 1),   # stride 2: phase rows of 8, 4 shifts
    (1, 8, 8, 3, 3, 3, 1, 1, 1),       # rows of 4, 9 shifts
    (1, 8, 8, 6, 7, 3, 1, 1, 1),       # h != w
    (1, 8, 8, 7, 7, 5, 1, 2, 1),       # 5x5: rows of 9, not eligible
]


def _rows_per_vector(geom, lanes=16, nr=128):
    """(shifts, pitch) of the layout with several rows per vector, or None: the op's rule
    (ops/conv.cc shape_plan, past_tile_reads_zero) restated. lanes 16 (AVX-512): the image is
    one tile and lanes past it must read zeros; lanes 8 (AVX2): tiles of whole rows, so lanes
    past each row's end must (the plane's zeroed tail counts, up to the last row's padding)."""
    n, c, o, h, w, k, stride, pad, groups = geom
    pitch = w + pad if stride == 1 and 1 <= pad < k else -(-(w + 2 * pad) // stride)
    hout, wout = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    hq = -(-(h + 2 * pad) // stride)
    if lanes % pitch or hout * pitch > nr or k <= stride:
        return None
    tile = -(-hout * pitch // 16) * 16
    shifts = set()
    for ky in range(k):
        for kx in range(k):
            off = (ky // stride) * pitch + kx // stride
            shifts.add(off % lanes)
            for oy in range(hout):
                for ox in range(wout):
                    q = oy * pitch + ox
                    if (ox + off % lanes < pitch) if lanes < 16 else (q + off % lanes < tile):
                        continue
                    i, j = divmod(q + off, pitch)
                    r, col = i * stride + ky % stride - pad, j * stride + kx % stride - pad
                    if i >= hq and lanes < 16 and q + off < hq * pitch + pad:
                        continue
                    if i >= hq or (0 <= r < h and 0 <= col < w):
                        return None
    return (len(shifts), pitch) if len(shifts) > 1 else None


def expected_shifts(geom, isa):
    n, c, o, h, w, k, stride, pad, groups = geom
    if (groups == c == o and k == 3 and stride <= 2 and pad == 1
            and any(path == isa for _, path in sparse_rt._core.dwconv_kernels())):
        return (1, w)  # the dwconv kernels read x in place
    pitch = -(-(w + 2 * pad) // stride)
    pitch16 = -(-pitch // 16) * 16
    nr = {"avx512": 128, "avx2": 64}.get(isa, 1)  # largest CSR register tile of the ISA
    ok = (k - 1) // stride >= 1 and nr % pitch16 == 0 and 4 * pitch16 <= 5 * pitch  # <= 1/4 more
    if ok:
        return ((k - 1) // stride + 1, pitch16)
    rows = _rows_per_vector(geom, 16 if isa == "avx512" else 8, nr) if nr > 1 else None
    return rows or (1, pitch)


@pytest.mark.parametrize("isa", ISAS)
def test_shifted_taps_layout(isa):
    """Which inputs get shifted taps: a 3x3 at 56, 28, 14 (AVX-512, AVX2), 7x7 inputs with rows of 8
    (two per vector, AVX-512), not 9x9 (rows of 10), not 1x1 (SPARSE_RT_CONV_SHIFTED=0: the
    next test)."""
    w = np.ones((16, 16, 3, 3), np.float32)
    with runtime(isa, 1):
        isa = sparse_rt.get_isa()  # SPARSE_RT_ISA may cap it below the one asked for
        for size, stride in [(56, 1), (28, 1), (14, 1), (7, 1), (56, 2)]:
            lay = Conv2d(w, padding=1, stride=stride, format="csr").layout(size, size)
            want_shifts, want_pitch = expected_shifts((1, 16, 16, size, size, 3, stride, 1, 1), isa)
            assert (lay["shifts"], lay["row_pitch"]) == (want_shifts, want_pitch), (size, stride, lay)
        assert Conv2d(np.ones((16, 16, 1, 1), np.float32), format="csr").layout(56, 56)["shifts"] == 1
    if isa == "avx512":
        with runtime(isa, 1):
            layer = Conv2d(w, padding=1, format="csr")
        assert layer.layout(56, 56)["shifts"] == 3
        assert layer.layout(56, 56)["kernel"] == "f32_spconv_1x128__avx512"
        assert layer.layout(7, 7) == dict(kernel="f32_spconv_1x128__avx512", copy=True,
                                          row_pitch=8, shifts=6, channel_blocks=1)
        assert layer.layout(9, 9)["shifts"] == 1  # rows of 10: neither rule
        assert layer.kernel == "f32_spconv_1x64__avx512"  # the default, e.g. for 1x1 layers


@pytest.mark.parametrize("isa", ISAS)
def test_strided_blocks_and_even_tiles(isa):
    """Phase-split (strided) layers keep each channel block's window near L1 (3x3/2 over 56^2
    at s = 0.9: blocks of 16 channels, where the entry minimum alone asked for 40), stride-1
    layers keep the entry minimum; a 28x28 output (784 pixels: tiles of 192-208 shared out
    evenly between the threads) matches torch under every ISA, 1 and 2 threads."""
    for c, k, stride, size, pad in [(64, 3, 2, 56, 1), (48, 1, 2, 56, 0), (40, 3, 2, 28, 1)]:
        weight, bias, x = make_case(11, 1, c, 24, size, size, k, stride, pad, 1, 0.9)
        ref = torch_conv(x, weight, bias, stride, pad, 1, "relu")
        for threads in THREADS:
            with runtime(isa, threads):
                layer = Conv2d(weight, bias, stride=stride, padding=pad, format="csr",
                               activation="relu")
                y = layer(x)
                lay = layer.layout(size, size)
            check(y, ref, dict(c=c, k=k, stride=stride, size=size, isa=isa, threads=threads,
                               layout=lay))
            if k == 3 and size == 56 and lay["kernel"].endswith("avx512"):
                assert lay["channel_blocks"] == 4, lay  # 16 channels each (rows of 32)
    w = make_case(3, 1, 64, 64, 56, 56, 3, 1, 1, 1, 0.9)[0]
    with runtime(isa, 1):
        lay = Conv2d(w, padding=1, format="csr").layout(56, 56)
    # stride 1: at least ~32 entries per row group and block (40 of 64 channels)
    assert lay["channel_blocks"] == 2, lay


@pytest.mark.parametrize("isa", ISAS)
def test_unaligned_planes_copied_on_avx512(isa):
    """A stride-1 unpadded conv reads x in place unless, on AVX-512, its planes are not 16-float
    multiples (14x14 = 196 floats: copied into aligned planes), or the planes have under 128
    pixels (7x7, always copied); the answer is torch's either way."""
    weight, bias, x = make_case(5, 2, 24, 20, 14, 14, 1, 1, 0, 1, 0.8)
    ref = torch_conv(x, weight, bias, 1, 0, 1, None)
    with runtime(isa, 2):
        active = sparse_rt.get_isa()
        layer = Conv2d(weight, bias, format="csr")
        y = layer(x)
        copies = {size: layer.layout(size, size)["copy"] for size in (7, 14, 28)}
    assert copies == {7: True, 14: active == "avx512", 28: False}, (active, copies)
    check(y, ref, dict(isa=active, layout=layer.layout(14, 14)))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("geom", SHIFTED_GEOMETRIES, ids=str)
def test_shifted_taps_match_torch(monkeypatch, isa, geom):
    """Every format, 1 and 2 threads, one and several channel blocks, with a residual: the same
    answer as torch, with shifted taps on where expected_shifts says so (and off by env)."""
    n, c, o, h, w, k, stride, pad, groups = geom
    weight, bias, x = make_case(11, *geom, 0.7)
    ref = torch_conv(x, weight, bias, stride, pad, groups, None)
    res = np.random.default_rng(3).standard_normal(ref.shape).astype(np.float32)
    ref_res = np.maximum(ref + res, 0.0)
    for cblock, shifted in [(None, "1"), ("4", "1"), (None, "0")]:
        if cblock:
            monkeypatch.setenv("SPARSE_RT_CONV_CBLOCK", cblock)
        else:
            monkeypatch.delenv("SPARSE_RT_CONV_CBLOCK", raising=False)
        monkeypatch.setenv("SPARSE_RT_CONV_SHIFTED", shifted)
        for fmt, block in formats_for(geom):
            for threads in THREADS:
                with runtime(isa, threads):
                    active = sparse_rt.get_isa()  # SPARSE_RT_ISA may cap it
                    layer = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups,
                                   format=fmt, block=block)
                    lay = layer.layout(h, w)
                    y = layer(x)
                    relu = Conv2d(weight, bias, stride=stride, padding=pad, groups=groups,
                                  format=fmt, block=block, activation="relu")
                    y_res = relu(x, res)
                case = dict(geom=geom, format=fmt, block=block, isa=isa, threads=threads,
                            cblock=cblock, layout=lay, kernel=layer.kernel)
                check(y, ref, case)
                check(y_res, ref_res, case)
                if fmt == "csr":
                    want = expected_shifts(geom, active)[0] if shifted == "1" else 1
                    assert lay["shifts"] == want, case


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_3x3_kernels(isa, threads, stride):
    """Depthwise 3x3, padding 1, stride 1 or 2: the dwconv kernel where the ISA path has one
    (it replaces oneDNN there for "dense"/"auto"), the spconv/oneDNN paths elsewhere; every
    format, odd and strip-sized planes, batch 2, residual, ReLU6."""
    dw = [name for name, path in sparse_rt._core.dwconv_kernels() if path == isa]
    for c, h, w in [(3, 1, 1), (4, 5, 7), (8, 14, 14), (2, 9, 33), (3, 16, 48), (2, 7, 65)]:
        weight, bias, x = make_case(h * w, 2, c, c, h, w, 3, stride, 1, c, 0.3)
        ref = torch_conv(x, weight, bias, stride, 1, c, None)
        res = np.random.default_rng(c).standard_normal(ref.shape).astype(np.float32)
        for fmt in ("auto", "dense", "direct", "csr"):
            with runtime(isa, threads):
                layer = Conv2d(weight, bias, stride=stride, padding=1, groups=c, format=fmt,
                               activation="relu6")
                y, yr = layer(x), layer(x, residual=res)
            case = dict(c=c, h=h, w=w, stride=stride, format=fmt, isa=isa, threads=threads,
                        kernel=layer.kernel)
            if dw:  # the kernels of the path, whatever the storage
                assert layer.kernel == dw[0], case
            else:
                assert not layer.kernel.startswith("f32_dwconv"), case
            check(y, np.clip(ref, 0.0, 6.0), case)
            check(yr, np.clip(ref + res, 0.0, 6.0), dict(case, residual=True))
