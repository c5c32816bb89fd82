"""Fine-tuning holds masks; weight rewinding, LR rewinding and re-initialisation keep them."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
import torch.nn.functional as F
from sparse_rt import prune


def _data(batches: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(16, 64, generator=generator), torch.randint(0, 10, (16,), generator=generator))
        for _ in range(batches)
    ]


def test_masks_stay_fixed_through_fine_tuning():
    model = models.digits_mlp()
    prune.magnitude(model, 0.7)
    mask = model.fc1.weight_mask.clone()
    before = model.fc1.weight_orig.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    losses = prune.fine_tune(model, _data(), F.cross_entropy, optimizer, epochs=2)
    assert len(losses) == 6 and all(map(torch.isfinite, torch.tensor(losses)))
    assert torch.equal(model.fc1.weight_mask, mask)
    assert not torch.equal(model.fc1.weight_orig, before)  # it did train
    assert bool((model.fc1.weight[mask == 0] == 0).all())  # pruned weights are still zero
    assert not model.training  # mode restored
    report = prune.sparsity_report(model)
    assert report.layer("fc1").sparsity == pytest.approx(0.7, abs=1e-4)


def test_weight_rewinding_restores_saved_weights_under_the_mask():
    model = models.digits_mlp()
    saved = prune.checkpoint(model)  # "iteration k" (here: initialisation)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    prune.fine_tune(model, _data(), F.cross_entropy, optimizer)
    prune.magnitude(model, 0.8)  # masks from the trained weights
    mask = model.fc1.weight_mask.clone()
    assert prune.rewind_weights(model, saved) is model
    torch.testing.assert_close(model.fc1.weight, saved.weights["fc1.weight"] * mask, rtol=0, atol=0)
    torch.testing.assert_close(model.fc1.bias, saved.weights["fc1.bias"], rtol=0, atol=0)
    assert torch.equal(model.fc1.weight_mask, mask)
    smaller = prune.channels(models.digits_mlp(), 0.5, example_input=(1, 64))
    with pytest.raises(ValueError, match="shape"):
        prune.rewind_weights(smaller, saved)


def test_learning_rate_rewinding_restores_the_schedule_not_the_weights():
    model = models.digits_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()  # lr 0.05
    saved = prune.checkpoint(model, optimizer, scheduler)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.00625)
    weights = model.fc1.weight.detach().clone()
    prune.rewind_lr(optimizer, saved, scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)  # the schedule continues from k
    assert torch.equal(model.fc1.weight, weights)
    with pytest.raises(ValueError, match="no learning rates"):
        prune.rewind_lr(optimizer, prune.checkpoint(model))


def test_reinit_draws_new_weights_and_keeps_the_mask():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5)
    mask = model.fc1.weight_mask.clone()
    old = model.fc1.weight_orig.detach().clone()
    prune.reinit(model, seed=1)
    first = model.fc1.weight_orig.detach().clone()
    assert not torch.equal(first, old)
    assert torch.equal(model.fc1.weight_mask, mask)
    assert bool((model.fc1.weight[mask == 0] == 0).all())
    torch.testing.assert_close(model.fc1.weight, first * mask, rtol=0, atol=0)
    prune.reinit(model, seed=1)
    assert torch.equal(model.fc1.weight_orig, first)  # deterministic per seed
    state = torch.get_rng_state()
    prune.reinit(model, seed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
