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
AUTO_CSR_MAX_DENSITY = 0.3  # format="auto": CSR at or below this density (crossover: docs/kernels-fc.md)


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


# Conv2d picks the direct sparse kernels when at most this fraction of the weights is non-zero
# (measured crossover against the oneDNN dense path: docs/architecture-conv.md).
_AUTO_CONV_SPARSE_MAX_DENSITY = 0.2


def _pair(v, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        a, b = v
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    for e in (a, b):
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < minimum:
            raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return int(a), int(b)


class Conv2d:
    """A 2-D convolution over NCHW float32 activations, ``y = act(conv(x, W) + b)``, packed once.

    ``weight`` is either a float32 array ``(out_channels, in_channels // groups, kh, kw)``
    (zeros allowed), or a ``CSR``/``BSR`` of its 2-D view ``(out_channels,
    in_channels // groups * kh * kw)`` (columns ordered ``(ci, ky, kx)``, i.e.
    ``weight.reshape(out_channels, -1)``) together with ``kernel_size=`` (an int or a pair).

    ``stride`` and ``padding`` (zero padding) are ints or pairs; ``dilation`` must be 1.
    ``format``: ``"dense"`` (oneDNN when built with it and it has a fast kernel for the shape:
    at least 16 input channels per group, or depthwise; else ``"direct"``), ``"direct"``
    (sparse_rt's own direct kernels on the dense weights: blocks of 8 output channels, or one
    channel per group for depthwise convs), ``"csr"`` (direct sparse conv, one output channel per
    row), ``"bsr"`` (blocks of output x input channels of the 2-D view; ``block=(r, c)``, default
    the BSR weight's own blocksize) or ``"auto"`` (depthwise -> dense; a BSR weight -> bsr;
    otherwise csr when at most 20% of the weights are non-zero, else dense). ``kernel`` names the kernel chosen for the
    current ISA path (set when the layer is created).
    """

    def __init__(self, weight, bias=None, *, stride=1, padding=0, groups=1, dilation=1,
                 activation=None, format="auto", block=None, kernel_size=None):
        if format not in ("auto", "dense", "direct", "csr", "bsr"):
            raise ValueError(
                f"format={format!r} is not one of 'auto', 'dense', 'direct', 'csr', 'bsr'"
            )
        if _pair(dilation, "dilation", 1) != (1, 1):
            raise ValueError(f"dilation={dilation!r} is not supported: only dilation=1")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"groups must be an int >= 1, got {groups!r}")
        groups = int(groups)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.groups = groups
        self.activation = _activation(activation)

        sparse_in = isinstance(weight, (CSR, BSR))
        if sparse_in:
            if kernel_size is None:
                raise ValueError("kernel_size=(kh, kw) is required when weight is a CSR or BSR")
            kh, kw = _pair(kernel_size, "kernel_size", 1)
            rows, cols = weight.shape
            if cols % (kh * kw):
                raise ValueError(
                    f"a {kh}x{kw} kernel needs the weight's column count (in_channels // groups "
                    f"* kh * kw) to be a multiple of {kh * kw}, got shape {weight.shape}"
                )
            self.out_channels, self.in_channels = rows, cols // (kh * kw) * groups
            csr_or_bsr = weight
        else:
            w4 = _f32(weight if isinstance(weight, np.ndarray) else np.asarray(weight),
                      "weight", 4)
            if kernel_size is not None and _pair(kernel_size, "kernel_size", 1) != w4.shape[2:]:
                raise ValueError(f"kernel_size={kernel_size!r} does not match weight {w4.shape}")
            self.out_channels, cpg, kh, kw = w4.shape
            self.in_channels = cpg * groups
            csr_or_bsr = None
        self.kernel_size = (kh, kw)
        if self.out_channels < 1 or self.in_channels < 1:
            raise ValueError(f"weight must have at least one output and input channel, got {self.out_channels} and {self.in_channels}")
        if self.out_channels % groups:
            raise ValueError(f"groups={groups} must divide out_channels={self.out_channels}")
        rows, cols = self.out_channels, self.in_channels // groups * kh * kw
        b = _bias(bias, rows)
        geometry = (rows, self.in_channels, kh, kw, *self.stride, *self.padding, groups,
                    self.activation)
        depthwise = self.in_channels // groups == 1

        def dense2d() -> np.ndarray:
            if csr_or_bsr is not None:
                return csr_or_bsr.to_dense()
            return np.ascontiguousarray(w4.reshape(rows, cols))

        if format == "auto":
            if depthwise:
                format = "dense"
            elif isinstance(weight, BSR):
                format = "bsr"
            else:
                if csr_or_bsr is not None:
                    density = csr_or_bsr.density
                else:
                    density = np.count_nonzero(w4) / w4.size if w4.size else 0.0
                format = "csr" if density <= _AUTO_CONV_SPARSE_MAX_DENSITY else "dense"
        if format == "dense" and not _core.prefer_onednn(geometry):
            format = "direct"  # oneDNN has no fast kernel here (its reference one is ~1000x slower)
        self.format = format

        if format == "csr":
            csr = weight if isinstance(weight, CSR) else CSR.from_dense(dense2d())
            self._op = _core.DirectConv2d.from_csr(csr.data, csr.indices, csr.indptr, *csr.shape,
                                                   geometry, b)
        elif format == "bsr":
            if block is None:
                if not isinstance(weight, BSR):
                    raise ValueError("format='bsr' needs block=(r, c) unless weight is a BSR")
                bsr = weight
            else:
                blk = _pair(block, "block", 1)
                bsr = (weight if isinstance(weight, BSR) and weight.blocksize == blk
                       else BSR.from_dense(dense2d(), blk))
            r, c = bsr.blocksize
            self._op = _core.DirectConv2d.from_bsr(bsr.data, bsr.indices, bsr.indptr, *bsr.shape,
                                                   r, c, geometry, b)
        elif format == "direct" or not _core.have_onednn():
            self._op = _core.DirectConv2d.from_dense(dense2d(), geometry, b)
        else:
            self._op = _core.DnnlConv2d(dense2d(), geometry, b)

    @property
    def kernel(self) -> str:
        return self._op.kernel

    def output_shape(self, input_shape) -> tuple[int, int, int, int]:
        """``(N, out_channels, H_out, W_out)`` for an input of shape ``(N, C, H, W)``."""
        n, c, h, w = (int(v) for v in input_shape)
        if c != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {input_shape}")
        return tuple(self._op.output_shape(n, h, w))

    def layout(self, h: int, w: int) -> dict | None:
        """How the direct kernels lay out an ``h x w`` input, or None on the oneDNN path:
        ``kernel`` (the one that runs it: ``.kernel`` is the default, a layout with shifted
        taps may take a larger tile), ``copy`` (a padded copy is made, else x is read in
        place), ``row_pitch`` (floats per row of that copy; 8 for a 3x3 over 7x7 on AVX-512,
        two rows per vector), ``shifts`` (> 1: shifted taps, every load aligned, the number of
        distinct shifts; see docs/architecture-conv.md) and ``channel_blocks`` (partial-sum
        passes)."""
        if not hasattr(self._op, "layout"):
            return None
        return dict(self._op.layout(int(h), int(w)))

    def __call__(self, x: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """``act(conv(x, W) + b)``, or with ``residual`` (float32, the output's shape)
        ``act(conv(x, W) + b + residual)``: the add fused into the conv's epilogue."""
        x = _f32(x, "x", 4)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (N, {self.in_channels}, H, W), got {x.shape}"
            )
        if residual is None:
            return self._op(x)
        residual = _f32(residual, "residual", 4)
        if residual.shape != self.output_shape(x.shape):
            raise ValueError(f"residual must have shape {self.output_shape(x.shape)}, "
                             f"got {residual.shape}")
        return self._op(x, residual)

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
            f"format={self.format!r}, kernel={self.kernel!r})"
        )
