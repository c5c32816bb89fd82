"""No resident-memory growth over many inferences and many load/unload cycles (RSS from
/proc/self/statm after a warm-up; more than 1 MB of growth fails)."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import sparse_rt

LIMIT = 1 << 20

# Under AddressSanitizer (CI preloads it for a run of these tests) freed memory sits in ASan's
# quarantine, so RSS grows by design; LeakSanitizer covers leaks in that build instead.
pytestmark = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                reason="RSS is meaningless under ASan's quarantine")


def test_10000_inferences_do_not_grow_rss(files, hd):
    m = sparse_rt.load(files.seed("conv_csr_bn_pool.sprt"), num_threads=1)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1 + i % 4, 2, 5, 5)).astype(np.float32) for i in range(16)]
    for i in range(1000):  # warm-up: arena at its largest batch, allocator pools filled
        m(xs[i % 16])
    gc.collect()
    before = hd.rss_bytes()
    for i in range(10_000):
        m(xs[i % 16])
    gc.collect()
    grew = hd.rss_bytes() - before
    assert grew <= LIMIT, f"RSS grew by {grew} bytes over 10,000 inferences"


def test_1000_load_unload_cycles_do_not_grow_rss(files, hd):
    paths = [files.seed(n) for n in ("conv_csr_bn_pool.sprt", "conv_bsr_add_concat.sprt",
                                     "linear_csr_u16_softmax.sprt", "depthwise_scale_shift.sprt")]
    x = np.ones((2, 2, 5, 5), np.float32)

    def cycle(i):
        m = sparse_rt.load(paths[i % 4], num_threads=1)
        if i % 4 == 0:
            m(x)  # a session and an arena too
        del m

    for i in range(200):
        cycle(i)
    gc.collect()
    before = hd.rss_bytes()
    for i in range(1000):
        cycle(i)
    gc.collect()
    grew = hd.rss_bytes() - before
    assert grew <= LIMIT, f"RSS grew by {grew} bytes over 1,000 load/unload cycles"


def test_failed_loads_do_not_grow_rss(files, hd):
    raw = files.seed("conv_csr_bn_pool.sprt").read_bytes()
    bad = raw[:-1]
    p = files.path(bad)
    for _ in range(200):
        try:
            sparse_rt.load(p)
        except ValueError:
            pass
    before = hd.rss_bytes()
    for _ in range(1000):
        try:
            sparse_rt.load(p)
        except ValueError:
            pass
    grew = hd.rss_bytes() - before
    assert grew <= LIMIT, f"RSS grew by {grew} bytes over 1,000 failed loads"
