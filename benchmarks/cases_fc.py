"""Fully-connected cases shared by benchmarks/bench_fc.py and tests/python/kernels/test_fc.py.

Pure data plus one deterministic weight generator; numpy only.

* ``BENCH_*``: the issue-5 benchmark grid (weight shapes (M, K) = (out, in), batch sizes,
  sparsities, formats).
* ``TEST_*``: small shapes for correctness, chosen around the kernels' tiles (rows 1/4/8/16/64,
  batch widths 8/16/32/64) plus odd and prime sizes.
"""

from __future__ import annotations

import numpy as np

BENCH_SHAPES = [(4096, 4096), (1000, 2048), (300, 784)]
BENCH_BATCHES = [1, 16, 64]
BENCH_SPARSITIES = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
# (format, block): CSR is unstructured sparsity; BSR zeroes whole blocks.
BENCH_FORMATS = [("csr", None), ("bsr", (1, 4)), ("bsr", (4, 4))]

TEST_SHAPES = [(1, 1), (1, 4), (4, 4), (3, 5), (16, 16), (17, 33), (48, 64), (64, 48), (80, 36)]
TEST_BATCHES = [1, 2, 7, 8, 16, 17, 33, 64, 65]
TEST_SPARSITIES = [0.0, 0.5, 0.9, 1.0]
ALL_BLOCKS = [(1, 4), (4, 1), (4, 4), (8, 1), (16, 1)]


def make_weight(shape, sparsity: float, block=None, seed: int = 0) -> np.ndarray:
    """A float32 (M, K) weight with a fraction ``sparsity`` of zeros: unstructured when
    ``block`` is None, else whole ``block``-shaped tiles are zero (``block`` must divide the
    shape). Kept values are N(0, 1), never exactly 0."""
    rng = np.random.default_rng(seed)
    m, k = shape
    w = rng.standard_normal((m, k)).astype(np.float32)
    w[w == 0] = 1.0
    if block is None:
        w[rng.random((m, k)) < sparsity] = 0.0
    else:
        r, c = block
        keep = rng.random((m // r, k // c)) >= sparsity
        w *= np.kron(keep, np.ones((r, c), dtype=np.float32))
    return w


def bench_cases():
    """Every benchmark case as a dict (shape, n, sparsity, format, block) with a readable id."""
    out = []
    for shape in BENCH_SHAPES:
        for fmt, block in BENCH_FORMATS:
            for n in BENCH_BATCHES:
                for s in BENCH_SPARSITIES:
                    name = fmt if block is None else f"bsr{block[0]}x{block[1]}"
                    out.append(dict(shape=shape, n=n, sparsity=s, format=fmt, block=block,
                                    id=f"{shape[0]}x{shape[1]}-{name}-n{n}-s{s}"))
    return out
