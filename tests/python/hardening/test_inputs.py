"""Run-time input checks of Model.run: wrong rank/shape and dtype are rejected with a
ValueError naming the problem; non-contiguous arrays give the same result as contiguous ones;
batch 0 gives empty outputs of the right shape; NaN/Inf propagate without crashing."""

from __future__ import annotations

import numpy as np
import pytest

import sparse_rt
from sparse_rt.reference import run_reference

CONV = "conv_csr_bn_pool.sprt"   # x: [N, 2, 5, 5] -> y: [N, 3]
DENSE = "linear_dense.sprt"      # x: [N, 4] -> y: [N, 3]


@pytest.fixture
def conv(files):
    p = files.seed(CONV)
    return p, sparse_rt.load(p, num_threads=1)


def _x(n, rng=None):
    rng = rng or np.random.default_rng(0)
    return rng.standard_normal((n, 2, 5, 5)).astype(np.float32)


@pytest.mark.parametrize("shape", [(2, 5, 5), (1, 2, 5), (1, 2, 5, 5, 1), (1, 3, 5, 5),
                                   (1, 2, 5, 4), (1, 2, 4, 5), ()])
def test_wrong_rank_or_shape(conv, shape):
    _, m = conv
    with pytest.raises(ValueError, match=r"expected \[N, 2, 5, 5\]"):
        m(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.uint8, np.bool_,
                                   np.complex64])
def test_other_dtypes_are_rejected_not_converted(conv, dtype):
    _, m = conv
    with pytest.raises(ValueError, match=f"dtype {np.dtype(dtype)}.*float32 only"):
        m(np.zeros((1, 2, 5, 5), dtype))


def test_not_an_array(conv):
    _, m = conv
    with pytest.raises(TypeError, match="must be a numpy array"):
        m(np.zeros((1, 2, 5, 5), np.float32).tolist())


def test_fixed_batch_enforced(files):
    m = sparse_rt.load(files.seed("linear_csr_u16_softmax.sprt"))
    assert m.inputs[0].shape == (2, 6)
    with pytest.raises(ValueError, match=r"expected \[2, 6\]"):
        m(np.zeros((3, 6), np.float32))


@pytest.mark.parametrize("view", ["strided", "fortran", "reversed", "transposed", "broadcast",
                                  "unaligned"])
def test_non_contiguous_inputs_match_contiguous(conv, view):
    path, m = conv
    base = _x(12)
    if view == "strided":
        x = base[::3]
    elif view == "fortran":
        x = np.asfortranarray(base)
    elif view == "reversed":
        x = base[::-1, :, ::-1]
    elif view == "transposed":
        x = np.ascontiguousarray(base.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    elif view == "broadcast":
        x = np.broadcast_to(base[:1], (4, 2, 5, 5))
    else:
        raw = np.zeros(base.size * 4 + 1, np.uint8)[1:].view(np.float32).reshape(base.shape)
        raw[...] = base
        x = raw
    assert not (x.flags.c_contiguous and x.ctypes.data % 16 == 0) or view == "fortran"
    got = m(x)
    want = m(np.ascontiguousarray(x))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, run_reference(path, np.ascontiguousarray(x)), rtol=1e-4,
                               atol=1e-5)


def test_empty_batch_gives_empty_outputs(conv, files):
    _, m = conv
    y = m(np.zeros((0, 2, 5, 5), np.float32))
    assert y.shape == (0, 3) and y.dtype == np.float32
    m2 = sparse_rt.load(files.seed("two_inputs_empty_csr.sprt"))
    outs = m2({"a": np.zeros((0, 3), np.float32), "b": np.zeros((0, 2), np.float32)})
    assert outs["y"].shape == (0, 2) and outs["b"].shape == (0, 2)
    # and the session still works afterwards
    assert m(_x(2)).shape == (2, 3)


def test_batches_must_agree(files):
    m = sparse_rt.load(files.seed("two_inputs_empty_csr.sprt"))
    with pytest.raises(ValueError, match="batch"):
        m({"a": np.zeros((2, 3), np.float32), "b": np.zeros((3, 2), np.float32)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_propagate_per_sample(files, bad):
    path = files.seed(DENSE)
    m = sparse_rt.load(path, num_threads=1)
    x = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32)
    x[1, 2] = bad
    y = m(x)
    want = run_reference(path, x)
    clean = [0, 2, 3]
    np.testing.assert_allclose(y[clean], want[clean], rtol=1e-5, atol=1e-6)
    # the dense layer's weights are all non-zero: the bad value reaches every output of row 1
    assert not np.isfinite(y[1]).any()
    np.testing.assert_array_equal(np.isnan(y[1]), np.isnan(want[1]))


@pytest.mark.parametrize("name", ["conv_csr_bn_pool.sprt", "conv_bsr_add_concat.sprt",
                                  "depthwise_scale_shift.sprt", "linear_bsr.sprt",
                                  "linear_csr_u16_softmax.sprt"])
def test_non_finite_inputs_never_crash(files, name):
    m = sparse_rt.load(files.seed(name))
    spec = m.inputs[0]
    b = spec.shape[0] or 3
    x = np.full((b, *spec.shape[1:]), np.nan, np.float32)
    x.reshape(b, -1)[:, ::2] = np.inf
    x.reshape(b, -1)[:, 1::4] = -np.inf
    y = m(x)
    assert y.shape[0] == b and y.dtype == np.float32


def _unaligned(shape):
    raw = np.zeros(int(np.prod(shape)) * 4 + 1, np.uint8)[1:]
    x = raw.view(np.float32).reshape(shape)
    assert x.flags.c_contiguous and not x.flags.aligned
    return x


def test_misaligned_input_is_copied_not_passed_through(conv):
    """Found by the Python tests under ASan + UBSan: a C-contiguous float32 view at an odd byte
    offset reached the conv's im2col as a misaligned float* (undefined behaviour)."""
    _, m = conv
    x = _unaligned((3, 2, 5, 5))
    x[...] = _x(3)
    np.testing.assert_array_equal(m(x), m(_x(3)))
    # the compiled layer refuses a misaligned array outright instead of trusting its caller
    with pytest.raises(ValueError, match="not aligned"):
        m._session().run([_unaligned((1, 2, 5, 5))])
