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
AUTO_CSR_MAX_DENSITY = 0.5  # format="auto": CSR at or below this density (crossover: docs/kernels-fc.md)


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


def _block_shape(block) -> tuple[int, int]:
    try:
        r, c = (int(b) for b in block)
    except (TypeError, ValueError):
        raise ValueError(f"block must be a pair of ints (r, c), got {block!r}") from None
    if (r, c) not in BSR_BLOCKS:
        raise ValueError(f"block={(r, c)} is not supported; allowed blocks: {list(BSR_BLOCKS)}")
    return r, c


def default_block(shape) -> tuple[int, int]:
    """The first block of ``BSR_BLOCKS`` (preference order) that divides ``shape`` (M, K)."""
    for r, c in BSR_BLOCKS:
        if shape[0] % r == 0 and shape[1] % c == 0:
            return (r, c)
    raise ValueError(
        f"no supported BSR block divides the weight shape {tuple(shape)}; "
        f"allowed blocks: {list(BSR_BLOCKS)}"
    )


BSR_BLOCKS = tuple(tuple(b) for b in _core.bsr_block_shapes())


def _kernel_summary(kernel_for, n_max: int = 512) -> str:
    """``"name (n=1), name (n=2..15), ..., name (n>=64)"``: the kernel per range of batch sizes."""
    names = [kernel_for(n) for n in range(1, n_max + 1)]
    parts, start = [], 1
    for n in range(2, n_max + 2):
        if n <= n_max and names[n - 1] == names[start - 1]:
            continue
        end = n - 1
        if end == n_max:
            rng = "any n" if start == 1 else f"n>={start}"
        else:
            rng = f"n={start}" if start == end else f"n={start}..{end}"
        parts.append(f"{names[start - 1]} ({rng})")
        start = n
    return ", ".join(parts)


class Linear:
    """A fully-connected layer ``y = act(x @ W.T + b)``, packed once.

    ``weight``: float32 array (out_features, in_features), zeros allowed, or a ``CSR``/``BSR``.
    ``format``: ``"dense"``, ``"csr"``, ``"bsr"`` or ``"auto"`` (a ``BSR`` weight stays BSR;
    otherwise CSR when at most ``AUTO_CSR_MAX_DENSITY`` of the weights are non-zero, else dense).
    ``block``: the BSR block ``(r, c)``, one of ``BSR_BLOCKS`` (blocks may hold zeros); default:
    the weight's own blocksize if it is a supported ``BSR``, else the first of ``BSR_BLOCKS``
    that divides the shape. Giving ``block`` with ``format="auto"`` selects BSR.

    Kernels are chosen for the ISA path active at construction. The batch-1 and batched paths
    use different kernels, so ``kernel_for(n)`` names the kernel a call with ``n`` rows runs and
    ``kernel`` summarises them, e.g. ``"f32_csrmv16_1x1__avx512 (n=1), f32_csrmm_1x16__avx512
    (n=2..31), ..."`` (one name for the dense path).
    """

    def __init__(self, weight, bias=None, *, activation=None, format="auto", block=None):
        if format not in ("auto", "dense", "csr", "bsr"):
            raise ValueError(f"format={format!r} is not one of 'auto', 'dense', 'csr', 'bsr'")
        if block is not None:
            block = _block_shape(block)
            if format == "auto":
                format = "bsr"
            elif format != "bsr":
                raise ValueError(f"block={block} is only meaningful with format='bsr', got {format!r}")
        if isinstance(weight, (CSR, BSR)):
            shape = weight.shape
        else:
            weight = _f32(weight if isinstance(weight, np.ndarray) else np.asarray(weight),
                          "weight", 2)
            shape = weight.shape
        if format == "auto":
            if isinstance(weight, BSR) and weight.blocksize in BSR_BLOCKS:
                format = "bsr"
            else:
                density = weight.density if isinstance(weight, (CSR, BSR)) else (
                    np.count_nonzero(weight) / weight.size if weight.size else 0.0)
                format = "csr" if density <= AUTO_CSR_MAX_DENSITY else "dense"
        self.format = format
        self.out_features, self.in_features = shape
        act = _activation(activation)
        b = _bias(bias, self.out_features)
        self.block = None
        if format == "csr":
            csr = _as_csr(weight)
            self._op = _core.CsrLinear(csr.data, csr.indices, csr.indptr, *csr.shape, b, act)
        elif format == "bsr":
            if block is None:
                block = weight.blocksize if (isinstance(weight, BSR) and weight.blocksize in BSR_BLOCKS) \
                    else default_block(shape)
            if shape[0] % block[0] or shape[1] % block[1]:
                raise ValueError(f"block={block} does not divide the weight shape {tuple(shape)}")
            if isinstance(weight, BSR) and weight.blocksize == block:
                bsr = weight
            else:
                dense = weight.to_dense() if isinstance(weight, (CSR, BSR)) else weight
                bsr = BSR.from_dense(dense, block)
            self.block = block
            self._op = _core.BsrLinear(bsr.data, bsr.indices, bsr.indptr, *bsr.shape, *block, b, act)
        else:
            dense = weight.to_dense() if isinstance(weight, (CSR, BSR)) else weight
            self._op = _core.DenseLinear(np.ascontiguousarray(dense), b, act)

    def kernel_for(self, n: int) -> str:
        """Name of the kernel that a call with a batch of ``n`` rows runs."""
        if self.format == "dense":
            return self._op.kernel
        return self._op.kernel_for(int(n))

    @property
    def kernel(self) -> str:
        if self.format == "dense":
            return self._op.kernel
        return _kernel_summary(self._op.kernel_for)

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
            f"format={self.format!r}, block={self.block}, kernel={self.kernel!r})"
        )
