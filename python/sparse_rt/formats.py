"""Canonical sparse matrices with scipy.sparse's field names: ``data, indices, indptr, shape``
(and ``blocksize`` for BSR). Values are float32 and indices int32; every constructor validates
(indices in range, ``indptr`` monotone from 0 to nnz, sizes consistent) and raises
``ValueError`` naming the field that is wrong. numpy only; scipy is needed only by
``from_scipy``/``to_scipy``.
"""

from __future__ import annotations

import numpy as np

from . import _core

_INT32_MAX = np.iinfo(np.int32).max


def _shape2(shape) -> tuple[int, int]:
    try:
        rows, cols = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair of ints, got {shape!r}") from None
    if rows < 0 or cols < 0:
        raise ValueError(f"shape must be non-negative, got {(rows, cols)}")
    return rows, cols


def _index_array(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    if a.size and (a.max() > _INT32_MAX or a.min() < -_INT32_MAX - 1):
        raise ValueError(f"{name} has values that do not fit in int32")
    return np.ascontiguousarray(a, dtype=np.int32)


def _value_array(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.size and not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _dense2d(a, name: str = "a") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


class CSR:
    """Compressed sparse rows: row ``i`` holds ``data[indptr[i]:indptr[i+1]]`` at columns
    ``indices[indptr[i]:indptr[i+1]]``."""

    __slots__ = ("data", "indices", "indptr", "shape")

    def __init__(self, data, indices, indptr, shape):
        self.shape = _shape2(shape)
        self.data = _value_array(data, "data")
        self.indices = _index_array(indices, "indices")
        self.indptr = _index_array(indptr, "indptr")
        if self.data.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {self.data.shape}")
        _core.validate_csr(self.data, self.indices, self.indptr, *self.shape)

    @property
    def nnz(self) -> int:
        return int(self.data.size)

    @property
    def density(self) -> float:
        total = self.shape[0] * self.shape[1]
        return self.nnz / total if total else 0.0

    @classmethod
    def from_dense(cls, a) -> "CSR":
        """Keep the non-zero entries of a 2-D array."""
        a = _dense2d(a)
        rows, cols = np.nonzero(a)
        indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
        return cls(a[rows, cols], cols, indptr, a.shape)

    @classmethod
    def from_scipy(cls, m) -> "CSR":
        """From any scipy.sparse matrix or array (converted to CSR, duplicates summed)."""
        m = m.tocsr(copy=True)
        m.sum_duplicates()
        return cls(m.data, m.indices, m.indptr, m.shape)

    def to_scipy(self):
        import scipy.sparse

        return scipy.sparse.csr_array((self.data, self.indices, self.indptr), shape=self.shape)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out

    def __repr__(self) -> str:
        return f"CSR(shape={self.shape}, nnz={self.nnz}, density={self.density:.3f})"


class BSR:
    """Block sparse rows with ``blocksize=(r, c)``: block row ``i`` holds blocks
    ``data[indptr[i]:indptr[i+1]]`` (each ``r x c``) at block columns ``indices[...]``."""

    __slots__ = ("data", "indices", "indptr", "shape", "blocksize")

    def __init__(self, data, indices, indptr, shape, blocksize):
        self.shape = _shape2(shape)
        try:
            r, c = (int(b) for b in blocksize)
        except (TypeError, ValueError):
            raise ValueError(f"blocksize must be a pair of ints, got {blocksize!r}") from None
        if r < 1 or c < 1:
            raise ValueError(f"blocksize must be positive, got {(r, c)}")
        if self.shape[0] % r or self.shape[1] % c:
            raise ValueError(f"blocksize {(r, c)} does not divide shape {self.shape}")
        self.blocksize = (r, c)
        data = _value_array(data, "data")
        if data.ndim == 1 and data.size == 0:
            data = data.reshape(0, r, c)
        if data.ndim != 3 or data.shape[1:] != (r, c):
            raise ValueError(f"data must have shape (nblocks, {r}, {c}), got {data.shape}")
        self.data = data
        self.indices = _index_array(indices, "indices")
        self.indptr = _index_array(indptr, "indptr")
        _core.validate_bsr(self.data, self.indices, self.indptr, *self.shape, r, c)

    @property
    def nnz(self) -> int:
        """Stored values, including zeros inside kept blocks (scipy's convention)."""
        return int(self.data.size)

    @property
    def num_blocks(self) -> int:
        return int(self.indices.size)

    @property
    def density(self) -> float:
        total = self.shape[0] * self.shape[1]
        return self.nnz / total if total else 0.0

    @classmethod
    def from_dense(cls, a, blocksize) -> "BSR":
        """Keep every ``blocksize`` block of ``a`` that holds at least one non-zero."""
        a = _dense2d(a)
        try:
            r, c = (int(b) for b in blocksize)
        except (TypeError, ValueError):
            raise ValueError(f"blocksize must be a pair of ints, got {blocksize!r}") from None
        if r < 1 or c < 1 or a.shape[0] % r or a.shape[1] % c:
            raise ValueError(f"blocksize {(r, c)} does not divide shape {a.shape}")
        br, bc = a.shape[0] // r, a.shape[1] // c
        blocks = a.reshape(br, r, bc, c).transpose(0, 2, 1, 3)  # (br, bc, r, c)
        keep = np.any(blocks != 0, axis=(2, 3))
        brow, bcol = np.nonzero(keep)
        indptr = np.zeros(br + 1, dtype=np.int64)
        np.cumsum(np.bincount(brow, minlength=br), out=indptr[1:])
        return cls(blocks[brow, bcol], bcol, indptr, a.shape, (r, c))

    @classmethod
    def from_scipy(cls, m, blocksize=None) -> "BSR":
        """From a scipy.sparse matrix; ``blocksize`` re-blocks it (default: keep its own)."""
        m = m.tobsr(blocksize=blocksize, copy=True) if blocksize else m.tobsr(copy=True)
        m.sum_duplicates()
        return cls(m.data, m.indices, m.indptr, m.shape, m.blocksize)

    def to_scipy(self):
        import scipy.sparse

        return scipy.sparse.bsr_array(
            (self.data, self.indices, self.indptr), shape=self.shape, blocksize=self.blocksize
        )

    def to_dense(self) -> np.ndarray:
        r, c = self.blocksize
        br, bc = self.shape[0] // r, self.shape[1] // c
        blocks = np.zeros((br, bc, r, c), dtype=np.float32)
        brow = np.repeat(np.arange(br), np.diff(self.indptr))
        blocks[brow, self.indices] = self.data
        return blocks.transpose(0, 2, 1, 3).reshape(self.shape)

    def __repr__(self) -> str:
        return (
            f"BSR(shape={self.shape}, blocksize={self.blocksize}, blocks={self.num_blocks}, "
            f"density={self.density:.3f})"
        )
