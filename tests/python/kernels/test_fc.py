"""Sparse fully-connected layers and kernels (issue 5, family 1) against numpy.

Every kernel of the FC lists runs against a float64 numpy product (through
``_core.fc_kernel_run``); ``sparse_rt.ops.Linear`` runs under every usable ISA path, 1 and 2
threads, dense / CSR / every BSR block, sizes around the tiles, sparsity 0 / 0.5 / 0.9 / 1.0
(so empty rows and all-zero layers), each activation. Shapes come from benchmarks/cases_fc.py.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparse_rt
from sparse_rt import _core
from sparse_rt.ops import BSR_BLOCKS, Linear

_CASES_PATH = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "cases_fc.py"
_spec = importlib.util.spec_from_file_location("cases_fc", _CASES_PATH)
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

ISAS = sparse_rt.runtime_info()["isa_available"]
ACTS = {None: (-np.inf, np.inf), "relu": (0.0, np.inf), "relu6": (0.0, 6.0)}
FORMATS = [("dense", None), ("csr", None)] + [("bsr", b) for b in cases.ALL_BLOCKS]


@pytest.fixture
def restore_runtime():
    isa, threads = sparse_rt.get_isa(), sparse_rt.get_num_threads()
    yield
    sparse_rt.set_isa(isa)
    sparse_rt.set_num_threads(threads)


def reference(x, w, bias, activation):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if bias is not None:
        y += bias
    lo, hi = ACTS[activation]
    return np.minimum(np.maximum(y, lo), hi)


def assert_close(got, want, x, w, case: str):
    # tolerance from the magnitudes summed: |x| @ |w|^T bounds the rounding error
    scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + 1.0
    err = np.abs(got - want) / scale
    assert got.shape == want.shape, f"{case}: shape {got.shape}, expected {want.shape}"
    assert np.all(err <= 1e-5), (
        f"{case}: max scaled error {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"
    )


def _weight_for(shape, s, block, seed):
    return cases.make_weight(shape, s, block if block else None, seed=seed)


# ---------------------------------------------------------------------------------------------
# Every kernel in every list, directly.

KERNELS = _core.fc_kernels()


@pytest.mark.parametrize("kern", KERNELS, ids=[k["name"] for k in KERNELS])
def test_every_kernel_matches_numpy(kern):
    if not kern["usable"]:
        pytest.skip(f"{kern['name']}: ISA {kern['isa']} not usable on this CPU")
    rng = np.random.default_rng(5)
    fam = kern["family"]
    br, bc = kern.get("block", (1, 1))
    nr = kern.get("nr", 1)
    simd_mv = fam == "csrmv" or (fam == "bsrmm" and nr == 1 and kern["isa"] != "scalar")
    widths = [1] if simd_mv else sorted({2, max(1, nr - 1), nr, nr + 1, 2 * nr + 3})
    for mb in (1, 3, 18):
        for kb in (1, 5, 40):
            m, k = mb * br, kb * bc
            for s in cases.TEST_SPARSITIES:
                for n in widths:
                    for act, (lo, hi) in ACTS.items():
                        w = _weight_for((m, k), s, (br, bc) if fam == "bsrmm" else None,
                                        seed=m * 7 + k + n)
                        x = rng.standard_normal((k, n)).astype(np.float32)
                        bias = rng.standard_normal(m).astype(np.float32) if n % 2 else None
                        if fam == "bsrmm":
                            mat = sparse_rt.BSR.from_dense(w, (br, bc))
                        else:
                            mat = sparse_rt.CSR.from_dense(w)
                        b = bias if bias is not None else np.zeros(0, np.float32)
                        y, _ = _core.fc_kernel_run(kern["name"], mat.data, mat.indices,
                                                   mat.indptr, m, k, x, b, lo, hi)
                        case = f"{kern['name']} m={m} k={k} n={n} s={s} act={act} bias={bias is not None}"
                        assert_close(y.T, reference(x.T, w, bias, act), x.T, w, case)


def test_kernel_lists_cover_every_isa_and_block():
    names = {k["name"] for k in KERNELS}
    for isa in sparse_rt.runtime_info()["isa_built"]:
        suffix = "reference" if isa == "scalar" else isa
        assert any(n.endswith("__" + suffix) and "csrmm" in n for n in names), isa
        assert any(n.endswith("__" + suffix) and "csrmv" in n for n in names), isa
        for r, c in BSR_BLOCKS:
            assert any(f"{r}x{c}_" in n and n.endswith("__" + suffix) for n in names), (isa, r, c)
    assert set(BSR_BLOCKS) == set(cases.ALL_BLOCKS)


# ---------------------------------------------------------------------------------------------
# Linear: every ISA path x threads x format, sizes around the tiles.


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("fmt,block", FORMATS, ids=[f if b is None else f"bsr{b[0]}x{b[1]}" for f, b in FORMATS])
def test_linear_matches_numpy(isa, threads, fmt, block, restore_runtime):
    sparse_rt.set_isa(isa)
    sparse_rt.set_num_threads(threads)
    rng = np.random.default_rng(11)
    for shape in cases.TEST_SHAPES:
        if block and (shape[0] % block[0] or shape[1] % block[1]):
            continue
        for s in cases.TEST_SPARSITIES:
            w = _weight_for(shape, s, block, seed=shape[0] + 3 * shape[1])
            act = [None, "relu", "relu6"][int(s * 10) % 3]
            bias = rng.standard_normal(shape[0]).astype(np.float32) if shape[0] % 2 == 0 else None
            layer = Linear(w, bias, activation=act, format=fmt, block=block)
            assert layer.format == fmt
            for n in cases.TEST_BATCHES:
                x = rng.standard_normal((n, shape[1])).astype(np.float32)
                case = (f"isa={isa} threads={threads} format={fmt} block={block} W={shape} "
                        f"s={s} n={n} act={act} bias={bias is not None} kernel={layer.kernel_for(n)}")
                assert_close(layer(x), reference(x, w, bias, act), x, w, case)
                if fmt != "dense" and isa != "scalar":
                    assert layer.kernel_for(n).endswith("__" + isa), case


@pytest.mark.parametrize("isa", ISAS)
def test_wide_batch_and_large_k(isa, restore_runtime):
    # batch above every tile (n = 130, 257), K above 65536 (32-bit csrmv indices)
    sparse_rt.set_isa(isa)
    sparse_rt.set_num_threads(2)
    rng = np.random.default_rng(3)
    w = _weight_for((40, 256), 0.9, None, seed=1)
    for fmt, block in [("csr", None), ("bsr", (4, 4)), ("bsr", (8, 1))]:
        layer = Linear(w, format=fmt, block=block)
        for n in (130, 257):
            x = rng.standard_normal((n, 256)).astype(np.float32)
            assert_close(layer(x), reference(x, w, None, None), x, w, f"{isa} {fmt} {block} n={n}")
    # Every batch size reads one packed stream: 16-bit indices up to K = 65536 (the last column
    # is index 65535), 32-bit above; batched (csrmm) and batch-1 (csrmv) kernels alike.
    for k, mv_prefix in [(65536, "f32_csrmv16_1x1__"), (70000, "f32_csrmv_1x1__")]:
        w = _weight_for((6, k), 0.999, None, seed=2)
        w[:, -1] = 1.0  # the largest index is used
        layer = Linear(w, format="csr")
        assert layer.kernel_for(1).startswith(mv_prefix), (k, layer.kernel_for(1))
        for n in (1, 3, 17):
            x = rng.standard_normal((n, k)).astype(np.float32)
            assert_close(layer(x), reference(x, w, None, None), x, w, f"{isa} K={k} n={n}")


def test_empty_rows_and_all_zero_layer(restore_runtime):
    for isa in ISAS:
        sparse_rt.set_isa(isa)
        w = np.zeros((32, 16), np.float32)
        w[3, 5] = 2.0  # one non-zero, every other row empty
        bias = np.arange(32, dtype=np.float32) - 8
        x = np.ones((5, 16), np.float32)
        for fmt, block in FORMATS:
            layer = Linear(w, bias, activation="relu", format=fmt, block=block)
            assert_close(layer(x), reference(x, w, bias, "relu"), x, w, f"{isa} {fmt} {block}")
            zero = Linear(np.zeros((32, 16), np.float32), bias, format=fmt, block=block)
            np.testing.assert_array_equal(zero(x), np.broadcast_to(bias, (5, 32)), err_msg=f"{isa} {fmt}")


def test_zero_batch_and_nan():
    w = _weight_for((16, 16), 0.5, None, seed=4)
    for fmt, block in FORMATS:
        layer = Linear(w, format=fmt, block=block, activation="relu6")
        assert layer(np.zeros((0, 16), np.float32)).shape == (0, 16)
        x = np.ones((3, 16), np.float32)
        x[1, :] = np.nan
        y = layer(x)
        nz_rows = np.abs(w).sum(axis=1) > 0
        assert np.all(np.isnan(y[1, nz_rows])), f"{fmt} {block}: NaN must propagate through relu6"
        assert not np.any(np.isnan(y[0])), f"{fmt} {block}"


def test_inputs_csr_bsr_and_auto():
    w = _weight_for((32, 64), 0.9, (4, 4), seed=8)
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    want = reference(x, w, None, None)
    assert Linear(w).format == "csr"  # 10% dense -> auto picks CSR
    assert Linear(np.ones((4, 4), np.float32)).format == "dense"
    csr, bsr = sparse_rt.CSR.from_dense(w), sparse_rt.BSR.from_dense(w, (4, 4))
    for weight in (w, csr, bsr):
        for fmt in ("auto", "dense", "csr", "bsr"):
            layer = Linear(weight, format=fmt)
            assert_close(layer(x), want, x, w, f"{type(weight).__name__} {fmt}")
    assert Linear(bsr).format == "bsr" and Linear(bsr).block == (4, 4)
    assert Linear(w, format="bsr").block == (4, 4)  # first allowed block dividing the shape
    assert Linear(w[:, :63], format="bsr").block == (4, 1)
    assert Linear(w, block=(16, 1)).format == "bsr"
    layer = Linear(bsr, format="bsr", block=(1, 4))  # re-blocked
    assert layer.block == (1, 4)
    assert_close(layer(x), want, x, w, "re-blocked")


def test_kernel_names():
    w = _weight_for((64, 64), 0.9, None, seed=9)
    isa = sparse_rt.get_isa()
    tag = "reference" if isa == "scalar" else isa  # scalar kernels are the references
    for fmt, block in FORMATS[1:]:
        layer = Linear(w, format=fmt, block=block)
        assert tag in layer.kernel, layer.kernel
        assert "(n=1)" in layer.kernel or isa == "scalar", layer.kernel  # one reference, any n
        assert layer.kernel_for(1) != layer.kernel_for(64) or isa == "scalar"
        assert "mv" in layer.kernel_for(1) or isa == "scalar"
    assert Linear(w, format="dense").kernel == Linear(w, format="dense").kernel_for(16)
    from sparse_rt import _core
    want = "f32_inner_product__onednn" if _core.have_onednn() else "f32_gemm__openblas"
    assert Linear(w, format="dense").kernel == want
    assert "Linear(" in repr(Linear(w, format="csr"))


def test_bad_input_raises_value_error():
    w = _weight_for((8, 12), 0.5, None, seed=1)
    layer = Linear(w, format="csr")
    with pytest.raises(ValueError, match=r"\(N, 12\)"):
        layer(np.ones((2, 11), np.float32))
    with pytest.raises(ValueError, match="float32"):
        layer(np.ones((2, 12), np.float64))
    with pytest.raises(ValueError, match="2-D"):
        layer(np.ones(12, np.float32))
    with pytest.raises(ValueError, match="format"):
        Linear(w, format="coo")
    with pytest.raises(ValueError, match="allowed blocks"):
        Linear(w, format="bsr", block=(3, 3))
    with pytest.raises(ValueError, match="does not divide"):
        Linear(w, format="bsr", block=(16, 1))
    with pytest.raises(ValueError, match="only meaningful"):
        Linear(w, format="csr", block=(4, 4))
    with pytest.raises(ValueError, match="allowed blocks"):
        Linear(np.ones((7, 9), np.float32), format="bsr")  # no block divides 7 x 9
    with pytest.raises(ValueError, match="bias"):
        Linear(w, np.ones(7, np.float32))
    with pytest.raises(ValueError, match="float32"):
        Linear(w.astype(np.float64))
    with pytest.raises(ValueError, match="activation"):
        Linear(w, activation="gelu")
    with pytest.raises(ValueError, match="no FC kernel"):
        _core.fc_kernel_run("nope", w.ravel(), np.zeros(0, np.int32), np.zeros(9, np.int32),
                            8, 12, np.ones((12, 1), np.float32), np.zeros(0, np.float32), 0, 1)


@settings(deadline=None, max_examples=40)
@given(
    m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40),
    s=st.sampled_from([0.0, 0.3, 0.8, 0.95, 1.0]),
    fmt=st.sampled_from([f for f in FORMATS if f[0] != "dense"]),
    act=st.sampled_from(list(ACTS)), with_bias=st.booleans(), seed=st.integers(0, 2**16),
    isa=st.sampled_from(ISAS), threads=st.sampled_from([1, 2]),
)
def test_property_random_shapes(m, k, n, s, fmt, act, with_bias, seed, isa, threads):
    fmt, block = fmt
    if block:
        m, k = m * block[0], -(-k // block[1]) * block[1]
    old_isa, old_threads = sparse_rt.get_isa(), sparse_rt.get_num_threads()
    try:
        sparse_rt.set_isa(isa)
        sparse_rt.set_num_threads(threads)
        rng = np.random.default_rng(seed)
        w = _weight_for((m, k), s, block, seed=seed)
        bias = rng.standard_normal(m).astype(np.float32) if with_bias else None
        x = rng.standard_normal((n, k)).astype(np.float32)
        layer = Linear(w, bias, activation=act, format=fmt, block=block)
        case = f"isa={isa} threads={threads} {fmt} {block} W=({m},{k}) n={n} s={s} act={act} bias={with_bias} seed={seed}"
        assert_close(layer(x), reference(x, w, bias, act), x, w, case)
    finally:
        sparse_rt.set_isa(old_isa)
        sparse_rt.set_num_threads(old_threads)


@pytest.mark.parametrize("isa", ISAS)
def test_two_threads_split_large_layers(isa, restore_runtime):
    # Large enough that the ops split rows (and the transpose of x) between 2 threads; the
    # small cases above run on one thread by design (too little work per thread).
    sparse_rt.set_isa(isa)
    rng = np.random.default_rng(17)
    w = _weight_for((1024, 1024), 0.5, None, seed=5)
    wb = _weight_for((1024, 1024), 0.5, (4, 4), seed=6)
    bias = rng.standard_normal(1024).astype(np.float32)
    for fmt, block, weight in [("csr", None, w), ("bsr", (4, 4), wb), ("bsr", (16, 1), w), ("bsr", (1, 4), w)]:
        for threads in (1, 2):
            sparse_rt.set_num_threads(threads)
            layer = Linear(weight, bias, activation="relu", format=fmt, block=block)
            for n in (1, 3, 64):
                x = rng.standard_normal((n, 1024)).astype(np.float32)
                case = f"isa={isa} threads={threads} {fmt} {block} n={n}"
                assert_close(layer(x), reference(x, weight, bias, "relu"), x, weight, case)


@pytest.mark.parametrize("isa", ISAS)
def test_two_threads_split_batch_of_few_rows(isa, restore_runtime):
    # Few output rows and a wide batch: the ops split the batch columns between threads.
    sparse_rt.set_isa(isa)
    sparse_rt.set_num_threads(2)
    rng = np.random.default_rng(23)
    for fmt, block, shape in [("csr", None, (3, 700)), ("bsr", (4, 4), (4, 700)),
                              ("bsr", (16, 1), (16, 512)), ("bsr", (1, 4), (2, 700))]:
        w = _weight_for(shape, 0.3, block, seed=7)
        layer = Linear(w, format=fmt, block=block)
        for n in (250, 333, 1000):
            x = rng.standard_normal((n, shape[1])).astype(np.float32)
            assert_close(layer(x), reference(x, w, None, None), x, w, f"{isa} {fmt} {block} n={n}")
