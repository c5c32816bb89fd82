"""Single layers run by sparse_rt's kernels, for direct use, tests and benchmarks.

Inputs must be float32 numpy arrays (a float64 or integer array raises ``ValueError``: convert
explicitly); non-contiguous arrays are copied. Outputs are new float32 arrays. The GIL is
released while a kernel runs.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .formats import BSR, CSR

ACTIVATIONS = ("none", "relu", "relu6")
_AUTO_CSR_MAX_DENSITY = 0.3  # fallback threshold until per-shape measurement (export) decides


def _activation(activation) -> str:
    name = "none" if activation is None else activation
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not one of None, 'relu', 'relu6'")
    return name


def _f32(x, name: str, ndim: int) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise ValueError(f"{name} must have dtype float32, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _bias(bias, rows: int) -> np.ndarray:
    if bias is None:
        return np.zeros(0, dtype=np.float32)
    b = np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
    if b.shape != (rows,):
        raise ValueError(f"bias must have shape ({rows},), got {b.shape}")
    return b


def _as_csr(w) -> CSR:
    if isinstance(w, CSR):
        return w
    if isinstance(w, BSR):
        return CSR.from_dense(w.to_dense())
    return CSR.from_dense(_f32(np.asarray(w), "weight", 2))


def spmm(w: CSR, x: np.ndarray, *, bias=None, activation=None) -> np.ndarray:
    """``act(W @ x + bias[:, None])`` for a CSR ``W`` (M x K) and a dense ``x`` (K x n)."""
    if not isinstance(w, CSR):
        raise TypeError(f"w must be a sparse_rt.CSR, got {type(w).__name__}")
    x = _f32(x, "x", 2)
    op = _core.CsrMatmul(w.data, w.indices, w.indptr, *w.shape, _bias(bias, w.shape[0]),
                         _activation(activation))
    return op.matmul(x)


class Linear:
    """A fully-connected layer ``y = act(x @ W.T + b)``, packed once.

    ``weight``: float32 array (out_features, in_features), zeros allowed, or a ``CSR``/``BSR``.
    ``format``: ``"dense"``, ``"csr"`` or ``"auto"`` (CSR when at most 30% of the weights are
    non-zero). ``kernel`` names the kernel chosen for the current ISA path.
    """

    def __init__(self, weight, bias=None, *, activation=None, format="auto"):
        if format not in ("auto", "dense", "csr"):
            raise ValueError(f"format={format!r} is not one of 'auto', 'dense', 'csr'")
        csr = _as_csr(weight)
        if format == "auto":
            format = "csr" if csr.density <= _AUTO_CSR_MAX_DENSITY else "dense"
        self.format = format
        self.out_features, self.in_features = csr.shape
        act = _activation(activation)
        b = _bias(bias, self.out_features)
        if format == "csr":
            self._op = _core.CsrMatmul(csr.data, csr.indices, csr.indptr, *csr.shape, b, act)
        else:
            self._op = _core.DenseLinear(csr.to_dense(), b, act)

    @property
    def kernel(self) -> str:
        return self._op.kernel

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _f32(x, "x", 2)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have shape (N, {self.in_features}), got {x.shape}"
            )
        return self._op.linear(x)

    def __repr__(self) -> str:
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"format={self.format!r}, kernel={self.kernel!r})"
        )
