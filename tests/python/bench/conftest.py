"""Fixtures for the benchmark-tool tests: tiny timing budgets and a CLI runner.

Benchmarks need the model runtime (``sparse_rt.load``); without it these tests are skipped,
not failed. Everything here is kept tiny: the whole directory runs in well under a minute.
"""

from __future__ import annotations

import json

import pytest

import sparse_rt

pytest.importorskip("torch")

# quick timing for tests: correctness of the tool, not the numbers
# one thread: on a shared 2-core machine torch's 2-thread barriers stall for milliseconds
FAST = ["--warmup", "1", "--min-runs", "3", "--min-time", "0.01", "--no-measure", "--no-onnx",
        "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def runtime():
    if not hasattr(sparse_rt, "load"):
        pytest.skip("this build has no sparse_rt.load (model runtime)")


@pytest.fixture
def fast_opts(runtime):
    from sparse_rt.bench.model_bench import BenchOptions, TimingOptions

    def make(**kw):
        kw.setdefault("measure", False)
        kw.setdefault("threads", 1)
        kw.setdefault("onnx", False)
        kw.setdefault("timing", TimingOptions(warmup=1, min_runs=3, min_seconds=0.01))
        return BenchOptions(**kw)

    return make


@pytest.fixture
def cli(capsys, runtime):
    """Run ``sparse-rt ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from sparse_rt.cli import main

    def run(*args, fast=True):
        code = main([*args, *(FAST if fast else [])])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def cli_json(cli):
    def run(*args, **kw):
        code, out, err = cli(*args, "--json", **kw)
        assert code == 0, err
        return json.loads(out)

    return run
