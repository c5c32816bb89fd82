import numpy as np
import pytest
import torch

import sparse_rt


@pytest.fixture
def run_file():
    """Run an exported file with sparse_rt's runtime."""

    def run(path, x: np.ndarray) -> np.ndarray:
        return sparse_rt.load(path)(np.ascontiguousarray(x, dtype=np.float32))

    return run


@pytest.fixture
def randomize_bn():
    """Give batch norms non-trivial statistics so folding is really exercised."""

    def apply(model):
        g = torch.Generator().manual_seed(1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
        return model

    return apply
