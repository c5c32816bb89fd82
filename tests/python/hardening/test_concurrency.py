"""One model, many threads: every output equals the serial result bit for bit, and the GIL
is released while a model runs."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import write_model

THREADS, CALLS = 8, 1000


def test_threads_match_serial_bit_for_bit(files):
    m = sparse_rt.load(files.seed("conv_bsr_add_concat.sprt"), num_threads=1)
    rng = np.random.default_rng(5)
    # a different input (and batch size) for every call
    xs = [rng.standard_normal((1 + i % 3, 4, 4, 4)).astype(np.float32)
          for i in range(THREADS * CALLS)]
    serial = [m(x) for x in xs]
    results = [None] * len(xs)
    errors = []
    start = threading.Barrier(THREADS)

    def work(t):
        try:
            start.wait()
            for i in range(t, len(xs), THREADS):
                results[i] = m(xs[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for i, (a, b) in enumerate(zip(results, serial)):
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), f"call {i} differs"


def test_threads_with_openmp_inside(files):
    """Python threads x OpenMP threads per inference: still bit-identical to serial runs."""
    m = sparse_rt.load(files.seed("conv_csr_bn_pool.sprt"), num_threads=2)
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((8, 2, 5, 5)).astype(np.float32) for _ in range(64)]
    serial = [m(x).tobytes() for x in xs]
    out = {}

    def work(t):
        for i in range(t, len(xs), 4):
            out[i] = m(xs[i]).tobytes()

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [out[i] for i in range(len(xs))] == serial


def test_gil_is_released_during_run(tmp_path, hd):
    """A Python thread counts while the main thread is inside run(). The switch interval is
    made huge, so the main thread never hands the GIL over on its own: the counter can only
    advance during run() if run() releases the GIL. (If it did not, the count would stay 0.)"""
    from sparse_rt.format import encode_weight
    mc = hd.make_corpus
    k = 1024
    w = np.random.default_rng(0).standard_normal((k, k)).astype(np.float32)
    p = tmp_path / "big.sprt"
    write_model(p, mc._doc([mc._io("x", [None, k])], [mc._io("y", [None, k])],
                           [mc._linear("fc", "x", "y", k, k, "dense")]),
                encode_weight("fc", w, "dense"))
    m = sparse_rt.load(p, num_threads=1)
    x = np.ones((64, k), np.float32)
    m(x)  # warm-up: session and arena exist

    count = 0
    stop = False
    ready = threading.Event()

    def counter():
        nonlocal count
        import time
        ready.set()
        while not stop:
            count += 1
            time.sleep(0)  # releases the GIL, so the main thread can take it back

    old = sys.getswitchinterval()
    th = threading.Thread(target=counter)
    th.start()
    ready.wait()
    sys.setswitchinterval(100.0)
    try:
        during, control = [], []
        for _ in range(3):
            c0 = count
            m(x)
            during.append(count - c0)
            # control: C code that keeps the GIL (builtin sum) lets the counter do nothing
            c0 = count
            sum(range(1_000_000))
            control.append(count - c0)
    finally:
        sys.setswitchinterval(old)
        stop = True
        th.join()
    assert control == [0, 0, 0], control
    assert max(during) > 0, during


def test_dense_onednn_layers_from_many_threads(tmp_path):
    """Dense conv and linear layers run through oneDNN; one primitive executed by several
    threads at once (sessions in Python threads, and the batch lanes inside one call) must not
    share temporaries: every output equals the serial result bit for bit."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(32 * 6 * 6, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10)).eval()
    path = tmp_path / "dense.sprt"
    sparse_rt.export(net, torch.zeros(1, 16, 6, 6), path, format="dense", measure=False)
    m = sparse_rt.load(path, num_threads=2)
    kernels = " ".join(r["kernel"] for r in m.report())
    if sparse_rt._core.have_onednn():
        assert "onednn" in kernels, kernels
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((1 + i % 5, 16, 6, 6)).astype(np.float32) for i in range(96)]
    serial = [m(x).tobytes() for x in xs]
    with torch.no_grad():  # and the serial results are right
        for x, s in zip(xs[:5], serial[:5]):
            want = net(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(np.frombuffer(s, np.float32).reshape(want.shape), want,
                                       rtol=1e-4, atol=1e-4)
    out, errors = {}, []

    def work(t):
        try:
            for i in range(t, len(xs), 4):
                out[i] = m(xs[i]).tobytes()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert [out[i] for i in range(len(xs))] == serial, kernels
