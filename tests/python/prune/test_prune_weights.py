"""Mask pruning: exact sparsity, scopes, patterns (unstructured, blocks, N:M), torch interop."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
from sparse_rt import prune
from torch import nn
from torch.nn.utils import prune as torch_prune


def _mask(module: nn.Module) -> torch.Tensor:
    return module.weight_mask


def _pruned(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if hasattr(m, "weight_mask")}


def test_layer_scope_reaches_exact_sparsity_in_every_layer():
    model = models.resnet18(10, width=16)
    prune.magnitude(model, 0.37, filter_fn=prune.every_layer)
    layers = _pruned(model)
    assert len(layers) == 21  # 20 convs + fc
    for name, module in layers.items():
        zeros = int((_mask(module) == 0).sum())
        assert zeros == round(0.37 * module.weight.numel()), name
        assert bool((module.weight[_mask(module) == 0] == 0).all()), name


def test_int_amount_is_a_count_per_layer():
    model = models.digits_mlp()
    prune.magnitude(model, 1000)
    for name, module in _pruned(model).items():
        assert int((_mask(module) == 0).sum()) == 1000, name


def test_magnitude_removes_the_smallest_weights():
    layer = nn.Linear(10, 10)
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(10, 2))
    prune.magnitude(model, 0.5)
    kept = layer.weight_orig.abs()[_mask(layer) == 1]
    dropped = layer.weight_orig.abs()[_mask(layer) == 0]
    assert kept.min() >= dropped.max()


def _two_scales() -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(40, 50), nn.ReLU(), nn.Linear(50, 30), nn.ReLU(), nn.Linear(30, 4)
    )
    with torch.no_grad():
        model[0].weight.mul_(0.1)  # layer 0 has much smaller weights than layer 2
    return model


def test_global_scope_uses_one_threshold_and_differs_from_local():
    local, global_ = _two_scales(), _two_scales()
    global_.load_state_dict(local.state_dict())
    prune.magnitude(local, 0.5, filter_fn=prune.every_layer)
    prune.magnitude(global_, 0.5, scope="global", filter_fn=prune.every_layer)
    total = sum(m.weight.numel() for m in global_ if isinstance(m, nn.Linear))
    zeros = sum(int((m.weight_mask == 0).sum()) for m in global_ if isinstance(m, nn.Linear))
    assert zeros == round(0.5 * total)  # exact overall
    sparsity = [
        float((m.weight_mask == 0).float().mean()) for m in global_ if isinstance(m, nn.Linear)
    ]
    assert sparsity[0] > 0.75  # the small-weight layer is pruned much more
    assert sparsity[1] < 0.5
    local_sparsity = [
        float((m.weight_mask == 0).float().mean()) for m in local if isinstance(m, nn.Linear)
    ]
    assert local_sparsity == pytest.approx([0.5, 0.5, 0.5], abs=1e-2)
    # One threshold: every kept weight is at least as large as every pruned one, across layers.
    kept = torch.cat(
        [m.weight_orig.abs()[m.weight_mask == 1] for m in global_ if isinstance(m, nn.Linear)]
    )
    gone = torch.cat(
        [m.weight_orig.abs()[m.weight_mask == 0] for m in global_ if isinstance(m, nn.Linear)]
    )
    assert kept.min() >= gone.max()


def test_overrides_set_per_layer_amounts():
    model = _two_scales()
    prune.magnitude(model, 0.5, scope="global", filter_fn=prune.every_layer, overrides={"2": 0.1})
    assert int((model[2].weight_mask == 0).sum()) == round(0.1 * model[2].weight.numel())
    rest = model[0].weight.numel() + model[4].weight.numel()
    zeros = int((model[0].weight_mask == 0).sum()) + int((model[4].weight_mask == 0).sum())
    assert zeros == round(0.5 * rest)


def test_default_filter_keeps_first_conv_and_last_linear_dense():
    model = models.resnet18(10, width=16)
    prune.magnitude(model, 0.5)
    names = set(_pruned(model))
    assert "stem.0" not in names and "fc" not in names
    assert "layer1.0.conv1.0" in names and "layer4.1.conv2.0" in names
    mlp = models.digits_mlp()
    prune.magnitude(mlp, 0.5)
    assert set(_pruned(mlp)) == {"fc1", "fc2"}


def _blocks_uniform(mask2d: torch.Tensor, rows: int, cols: int) -> bool:
    blocks = mask2d.reshape(mask2d.shape[0] // rows, rows, -1, cols)
    return bool((blocks.amin(dim=(1, 3)) == blocks.amax(dim=(1, 3))).all())


@pytest.mark.parametrize("block", [(1, 4), (4, 1), (4, 4), (8, 1), (16, 1), (2, 8)])
def test_blocks_are_all_zero_or_all_kept_and_count_is_exact(block):
    rows, cols = block
    model = models.resnet18(10, width=16)
    prune.magnitude(model, 0.6, pattern=block)
    for name, module in _pruned(model).items():
        mask2d = _mask(module).reshape(module.weight.shape[0], -1)  # the exporter's BSR view
        assert _blocks_uniform(mask2d, rows, cols), name
        blocks = mask2d.numel() // (rows * cols)
        pruned_blocks = int((mask2d == 0).sum()) // (rows * cols)
        assert pruned_blocks == round(0.6 * blocks), name


def test_block_axes_rows_are_outputs_columns_are_inputs():
    linear = nn.Linear(8, 4)  # weight (out=4, in=8)
    model = nn.Sequential(linear, nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        linear.weight.copy_(torch.arange(32, dtype=torch.float32).reshape(4, 8) + 1)
    prune.magnitude(model, 0.25, pattern=(2, 4))  # 4 blocks, the smallest is rows 0-1, cols 0-3
    expected = torch.ones(4, 8)
    expected[0:2, 0:4] = 0
    assert torch.equal(linear.weight_mask, expected)
    conv = nn.Conv2d(2, 4, 2)  # weight (4, 2, 2, 2) -> matrix (4, 8)
    model = nn.Sequential(nn.Conv2d(1, 2, 1), conv)
    with torch.no_grad():
        conv.weight.copy_((torch.arange(32, dtype=torch.float32) + 1).reshape(4, 2, 2, 2))
    prune.magnitude(model, 0.25, pattern=(2, 4), filter_fn=lambda m, n: n == "1")
    assert torch.equal(conv.weight_mask.reshape(4, 8), expected)


def test_global_block_pruning_is_exact_in_blocks():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5, pattern=(4, 1), scope="global")
    total_blocks = sum(m.weight.numel() // 4 for m in _pruned(model).values())
    pruned_blocks = sum(int((m.weight_mask == 0).sum()) // 4 for m in _pruned(model).values())
    assert pruned_blocks == round(0.5 * total_blocks)
    for module in _pruned(model).values():
        assert _blocks_uniform(module.weight_mask, 4, 1)


@pytest.mark.parametrize(("pattern", "n", "m"), [("2:4", 2, 4), ("4:8", 4, 8), ("1:4", 1, 4)])
def test_n_m_counts_hold_in_every_group(pattern, n, m):
    model = models.resnet18(10, width=16)
    prune.magnitude(model, None, pattern=pattern)
    for name, module in _pruned(model).items():
        groups = module.weight_mask.reshape(module.weight.shape[0], -1, m)
        assert bool((groups.sum(dim=-1) == n).all()), name
        weights = module.weight_orig.detach().abs().reshape(groups.shape)
        kept_min = torch.where(groups == 1, weights, torch.inf).amin(dim=-1)
        dropped_max = torch.where(groups == 0, weights, -torch.inf).amax(dim=-1)
        assert bool((kept_min >= dropped_max).all()), name  # the largest N of each M survive


def test_n_m_accepts_matching_amount():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5, pattern="2:4")
    assert float(model.fc1.weight_mask.mean()) == 0.5


def test_repeated_pruning_compounds_like_torch():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5)
    first = model.fc1.weight_mask.clone()
    prune.magnitude(model, 0.5)
    assert int((model.fc1.weight_mask == 0).sum()) == round(0.75 * model.fc1.weight.numel())
    assert bool((model.fc1.weight_mask <= first).all())  # earlier zeros stay zero


def test_masks_are_torch_masks_and_remove_makes_them_permanent():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5)
    state = model.state_dict()
    assert "fc1.weight_orig" in state and "fc1.weight_mask" in state
    assert torch_prune.is_pruned(model) and prune.is_pruned(model)
    torch_prune.l1_unstructured(model.fc1, "weight", amount=0.5)  # torch combines with ours
    assert int((model.fc1.weight_mask == 0).sum()) == round(0.75 * model.fc1.weight.numel())
    x = torch.randn(3, 64)
    before = model(x)
    assert prune.remove(model) is model
    assert not prune.is_pruned(model)
    assert "fc1.weight_orig" not in model.state_dict()
    torch.testing.assert_close(model(x), before)
    assert int((model.fc1.weight == 0).sum()) >= round(0.75 * model.fc1.weight.numel())


def test_random_importance_is_deterministic_per_seed():
    a, b, c = models.digits_mlp(), models.digits_mlp(), models.digits_mlp()
    b.load_state_dict(a.state_dict())
    c.load_state_dict(a.state_dict())
    prune.weights(a, 0.5, importance=prune.Random(seed=3))
    prune.weights(b, 0.5, importance=prune.Random(seed=3))
    prune.weights(c, 0.5, importance=prune.Random(seed=4))
    assert torch.equal(a.fc1.weight_mask, b.fc1.weight_mask)
    assert not torch.equal(a.fc1.weight_mask, c.fc1.weight_mask)


def test_custom_importance_callable():
    model = models.digits_mlp()

    def by_column(
        module: nn.Module, name: str
    ) -> torch.Tensor:  # input features later in the row matter more
        rows, cols = module.weight.shape
        return torch.arange(cols, dtype=torch.float32).expand(rows, cols).clone()

    prune.weights(
        model, 0.25, importance=by_column, pattern=(1, 16), filter_fn=lambda m, n: n == "fc1"
    )
    assert bool((model.fc1.weight_mask[:, :16] == 0).all()) and bool(
        (model.fc1.weight_mask[:, 16:] == 1).all()
    )


def test_taylor_weight_importance_from_data():
    model = models.digits_mlp()
    data = [(torch.randn(16, 64), torch.randint(0, 10, (16,))) for _ in range(2)]
    prune.weights(model, 0.5, importance="taylor", data=data)
    assert int((model.fc1.weight_mask == 0).sum()) == round(0.5 * model.fc1.weight.numel())
    assert model.fc1.weight_orig.grad is None  # the scoring pass leaves no gradients behind
