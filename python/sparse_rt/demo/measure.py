"""Export, run in sparse_rt, score and time.

Accuracy is computed from the logits ``sparse_rt.load(path)(x)`` returns; torch's logits are
only used as a cross-check. Every timing uses ``sparse_rt.bench.timing.time_callable`` (warm-up,
then the median of at least 10 runs and ``min_seconds``), with the same thread count for
sparse_rt and torch.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

import sparse_rt
from sparse_rt.bench.timing import Timing, time_callable

from . import data as _data


@contextlib.contextmanager
def threads(n: int | None):
    """Use ``n`` threads in sparse_rt and torch inside the block (None: sparse_rt's current
    count for both), then restore both."""
    import torch

    before_rt, before_torch = sparse_rt.get_num_threads(), torch.get_num_threads()
    n = before_rt if n is None else n
    sparse_rt.set_num_threads(n)
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        sparse_rt.set_num_threads(before_rt)
        torch.set_num_threads(before_torch)


def export(model, example: np.ndarray, path: str, *, measure: bool, format="auto",
           verify: bool = True, block=None):
    """``sparse_rt.export`` (verified against torch unless ``verify=False``); returns the
    ExportSummary."""
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return sparse_rt.export(model, torch.from_numpy(np.ascontiguousarray(example)), path,
                            format=format, block=block, measure=measure, verify=verify)


def load(path: str):
    """The runtime's model: ``sparse_rt.load`` (never the reference executor)."""
    return sparse_rt.load(path)


def run(rt_model, x: np.ndarray) -> np.ndarray:
    return np.asarray(rt_model(np.ascontiguousarray(x, dtype=np.float32)))


def sparse_rt_accuracy(path: str, x: np.ndarray, labels: np.ndarray) -> float:
    """Load ``path`` with sparse_rt, run ``x``, and score the arg-max against ``labels``."""
    return _data.accuracy(run(load(path), x), labels)


def torch_logits(model, x: np.ndarray) -> np.ndarray:
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    finally:
        model.train(was_training)


def time_sparse_rt(rt_model, x: np.ndarray, min_seconds: float, min_runs: int = 10) -> Timing:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return time_callable(lambda: rt_model(x), min_runs=min_runs, min_seconds=min_seconds)


def time_torch(model, x: np.ndarray, min_seconds: float, min_runs: int = 10) -> Timing:
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    model.eval()

    def call():
        with torch.no_grad():
            model(xt)

    return time_callable(call, min_runs=min_runs, min_seconds=min_seconds)


def flops(model, example_shape) -> tuple[int, int]:
    """(dense FLOPs of this architecture, FLOPs left for its non-zero weights) for one sample."""
    from sparse_rt import prune

    report = prune.sparsity_report(model, example_input=example_shape)
    return int(report.dense_flops), int(report.flops)
