import numpy as np
import pytest
import scipy.sparse

from sparse_rt import BSR, CSR

SPARSITIES = (0.0, 0.5, 0.9, 1.0)


def _random(shape, sparsity, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    a[rng.random(shape) < sparsity] = 0
    return a


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_csr_round_trips_with_scipy_and_dense(sparsity):
    a = _random((17, 11), sparsity)
    m = CSR.from_dense(a)
    np.testing.assert_array_equal(m.to_dense(), a)
    assert m.nnz == np.count_nonzero(a)
    assert m.density == pytest.approx(np.count_nonzero(a) / a.size)
    s = m.to_scipy()
    np.testing.assert_array_equal(s.toarray(), a)
    back = CSR.from_scipy(s)
    np.testing.assert_array_equal(back.indptr, s.indptr)
    np.testing.assert_array_equal(back.indices, s.indices)
    np.testing.assert_array_equal(back.data, s.data)
    assert back.data.dtype == np.float32 and back.indices.dtype == np.int32


def test_csr_from_scipy_accepts_any_format_and_sums_duplicates():
    coo = scipy.sparse.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    m = CSR.from_scipy(coo)
    np.testing.assert_array_equal(m.to_dense(), [[0, 3, 0], [0, 0, 3]])


@pytest.mark.parametrize("blocksize", [(1, 4), (4, 1), (4, 4), (8, 1), (16, 1)])
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_bsr_round_trips(blocksize, sparsity):
    a = _random((32, 16), sparsity, seed=1)
    m = BSR.from_dense(a, blocksize)
    np.testing.assert_array_equal(m.to_dense(), a)
    s = m.to_scipy()
    assert s.blocksize == blocksize
    np.testing.assert_array_equal(s.toarray(), a)
    back = BSR.from_scipy(s)
    np.testing.assert_array_equal(back.to_dense(), a)
    assert back.blocksize == blocksize


def test_bsr_from_scipy_reblocks():
    a = _random((8, 8), 0.5, seed=2)
    m = BSR.from_scipy(scipy.sparse.csr_array(a), blocksize=(2, 4))
    assert m.blocksize == (2, 4)
    np.testing.assert_array_equal(m.to_dense(), a)


def test_bsr_block_that_does_not_divide_is_rejected():
    with pytest.raises(ValueError, match="does not divide"):
        BSR.from_dense(np.ones((6, 6), np.float32), (4, 4))


def test_csr_empty_rows_and_shapes():
    m = CSR.from_dense(np.zeros((0, 5), np.float32))
    assert m.shape == (0, 5) and m.nnz == 0
    m = CSR.from_dense(np.zeros((3, 0), np.float32))
    assert m.shape == (3, 0) and m.indptr.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(indices=[0, 3], indptr=[0, 1, 2]), "out of range"),
        (dict(indices=[0, -1], indptr=[0, 1, 2]), "out of range"),
        (dict(indices=[0, 1], indptr=[0, 2, 1]), "indptr decreases"),
        (dict(indices=[0, 1], indptr=[1, 1, 2]), r"indptr\[0\]"),
        (dict(indices=[0, 1], indptr=[0, 1, 3]), "indptr ends at 3"),
        (dict(indices=[0, 1], indptr=[0, 2]), "indptr has 2 entries"),
        (dict(indices=[0], indptr=[0, 1, 2]), "indices has 1 entries"),
        (dict(indices=[1, 1], indptr=[0, 2, 2]), "duplicate index 1"),
    ],
)
def test_csr_validation_names_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        CSR(np.ones(2, np.float32), fields["indices"], fields["indptr"], (2, 3))


def test_csr_rejects_bad_types_and_shapes():
    with pytest.raises(ValueError, match="indices must hold integers"):
        CSR([1.0], [0.5], [0, 1], (1, 2))
    with pytest.raises(ValueError, match="shape"):
        CSR([1.0], [0], [0, 1], (1,))
    with pytest.raises(ValueError, match="non-negative"):
        CSR([], [], [0], (-1, 2))
    with pytest.raises(ValueError, match="int32"):
        CSR([1.0], [2**40], [0, 1], (1, 2))
    with pytest.raises(ValueError, match="2-D"):
        CSR.from_dense(np.ones(3, np.float32))


def test_bsr_validation_names_the_field():
    data = np.ones((1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        BSR(data, [2], [0, 1, 1], (4, 4), (2, 2))
    with pytest.raises(ValueError, match=r"data must have shape \(nblocks, 2, 2\)"):
        BSR(np.ones((1, 2, 3), np.float32), [0], [0, 1, 1], (4, 4), (2, 2))
    with pytest.raises(ValueError, match="blocksize"):
        BSR(data, [0], [0, 1, 1], (4, 4), (0, 2))
