"""Shared fixtures for the pruning tests. torch is a required test dependency."""

from __future__ import annotations

import pytest
import torch
from torch import nn


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Deterministic seed; one intra-op thread (the models are tiny, and on a shared 2-core
    machine OpenMP threads spinning against other processes make them 100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch-norm non-trivial statistics and affine parameters (in place)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-1.0, 1.0, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.5, 0.5, generator=generator)
    return model


@pytest.fixture
def randomize_batchnorm():
    return _randomize_batchnorm


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def count_params():
    return _count
