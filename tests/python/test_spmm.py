"""The foundation's kernel slice: CSR x dense through the dispatcher on every ISA path."""

import numpy as np
import pytest

import sparse_rt
from sparse_rt import CSR
from sparse_rt.ops import Linear, spmm

# Rows, columns of W and columns of x around the kernels' tiles (8/32 for AVX2, 16/64 for
# AVX-512): below, at and above, plus odd sizes.
SHAPES = [(1, 1, 1), (3, 5, 7), (17, 29, 16), (16, 33, 32), (9, 31, 63), (33, 64, 64),
          (5, 13, 65), (40, 50, 130)]
SPARSITIES = (0.0, 0.5, 0.9, 1.0)


def _weights(m, k, sparsity, seed, empty_rows=True):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32)
    w[rng.random((m, k)) < sparsity] = 0
    if empty_rows and m > 2:
        w[1] = 0  # an empty row inside the matrix
    return w


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_spmm_matches_numpy(isa, threads, shape, sparsity):
    m, k, n = shape
    w = _weights(m, k, sparsity, seed=m * 1000 + k)
    x = np.random.default_rng(n).standard_normal((k, n)).astype(np.float32)
    bias = np.linspace(-1, 1, m, dtype=np.float32)
    for activation, ref in ((None, lambda v: v), ("relu", lambda v: np.maximum(v, 0)),
                            ("relu6", lambda v: np.clip(v, 0, 6))):
        got = spmm(CSR.from_dense(w), x, bias=bias, activation=activation)
        want = ref(w.astype(np.float64) @ x + bias[:, None])
        np.testing.assert_allclose(
            got, want, rtol=1e-5, atol=1e-5,
            err_msg=f"isa={isa} threads={threads} shape={shape} sparsity={sparsity} "
                    f"activation={activation}")


@pytest.mark.parametrize("fmt", ["csr", "dense", "auto"])
@pytest.mark.parametrize("n", [1, 2, 17, 64])
def test_linear_matches_numpy(isa, threads, fmt, n):
    w = _weights(48, 70, 0.9, seed=5)
    x = np.random.default_rng(n).standard_normal((n, 70)).astype(np.float32)
    b = np.arange(48, dtype=np.float32) / 10
    layer = Linear(w, b, activation="relu", format=fmt)
    if fmt == "csr" or fmt == "auto":
        expected_suffix = "reference" if isa == "scalar" else isa
        assert layer.kernel_for(n).endswith(expected_suffix), layer.kernel
    np.testing.assert_allclose(layer(x), np.maximum(x @ w.T + b, 0), rtol=1e-5, atol=1e-5,
                               err_msg=f"isa={isa} threads={threads} fmt={fmt} n={n}")


def test_kernel_name_follows_isa(isa):
    layer = Linear(_weights(8, 8, 0.9, seed=1), format="csr")
    assert layer.kernel_for(2).startswith("f32_csrmm_")
    assert layer.kernel_for(1).startswith("f32_csrmv")
    for n in (1, 2, 64):
        assert layer.kernel_for(n).endswith("__" + ("reference" if isa == "scalar" else isa))


def test_auto_format_uses_density():
    assert Linear(_weights(16, 16, 0.95, seed=1)).format == "csr"
    assert Linear(_weights(16, 16, 0.0, seed=1)).format == "dense"


def test_nan_and_inf_propagate():
    w = _weights(4, 4, 0.0, seed=3, empty_rows=False)
    x = np.ones((4, 20), np.float32)
    x[0, 0] = np.nan
    x[1, 1] = np.inf
    y = spmm(CSR.from_dense(w), x, activation="relu6")
    assert np.isnan(y[:, 0]).all()
    assert np.isfinite(y[:, 2:]).all()


def test_non_contiguous_input_is_handled():
    w = _weights(10, 12, 0.5, seed=4)
    x = np.random.default_rng(0).standard_normal((12, 40)).astype(np.float32)[:, ::2]
    assert not x.flags.c_contiguous
    np.testing.assert_allclose(spmm(CSR.from_dense(w), x), w @ x, rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    w = CSR.from_dense(_weights(4, 6, 0.5, seed=2))
    with pytest.raises(ValueError, match="float32"):
        spmm(w, np.ones((6, 3)))
    with pytest.raises(ValueError, match=r"shape \(6, n\)"):
        spmm(w, np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        spmm(w, np.ones(6, np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        spmm(w, np.ones((6, 3), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="activation"):
        spmm(w, np.ones((6, 3), np.float32), activation="gelu")
    with pytest.raises(TypeError, match="CSR"):
        spmm(np.ones((4, 6), np.float32), np.ones((6, 3), np.float32))
    layer = Linear(w)
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        layer(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="format"):
        Linear(w, format="coo")


def test_empty_batch_and_all_zero_layer():
    w = CSR.from_dense(np.zeros((5, 7), np.float32))
    assert w.nnz == 0
    np.testing.assert_array_equal(spmm(w, np.ones((7, 3), np.float32)), np.zeros((5, 3)))
    assert spmm(w, np.ones((7, 0), np.float32)).shape == (5, 0)
    assert Linear(w, format="csr")(np.ones((0, 7), np.float32)).shape == (0, 5)
    assert Linear(w, format="dense")(np.ones((0, 7), np.float32)).shape == (0, 5)


def test_blas_single_threaded_inside_our_loops():
    sparse_rt.set_num_threads(2)
    assert sparse_rt.runtime_info()["blas_threads"] == 1
    w = _weights(256, 256, 0.0, seed=9)
    x = np.random.default_rng(1).standard_normal((8, 256)).astype(np.float32)
    np.testing.assert_allclose(Linear(w, format="dense")(x), x @ w.T, rtol=1e-4, atol=1e-4)
