"""A channel-pruned (smaller) model: its FLOPs from the file match an independent count with
torch module shapes, and matching by FLOPs / params lands near the target."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_rt.bench.flops import model_flops
from sparse_rt.bench.model_bench import build_reference, channel_prune, channel_target


def _torch_count(model, shape):
    """Conv/linear FLOPs (2 per multiply-add) and weights, from module shapes and hooks."""
    total = {"flops": 0, "params": 0}

    def hook(m, inp, out):
        w = m.weight
        if isinstance(m, nn.Conv2d):
            total["flops"] += 2 * out.shape[2] * out.shape[3] * w.numel()
        else:
            total["flops"] += 2 * w.numel()
        total["params"] += w.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name, kwargs, size, match", [
    ("resnet18", {"width": 8}, 32, "flops"),
    ("mobilenet_v2", {"width_mult": 0.25}, 32, "params"),
])
def test_channel_theoretical_matches_actual_flops(tmp_path, runtime, name, kwargs, size, match):
    import sparse_rt

    model, shape = build_reference(name, input_size=size, model_kwargs=kwargs)
    smaller, info = channel_prune(model, shape, sparsity=0.7, match=match)
    assert 0 < info["channel_amount"] < 1
    x = torch.randn(1, *shape)
    sparse_rt.export(model, x, tmp_path / "orig.sprt", format="dense", measure=False,
                     verify=False)
    sparse_rt.export(smaller, x, tmp_path / "small.sprt", measure=False, verify=False)
    small, orig = model_flops(tmp_path / "small.sprt"), model_flops(tmp_path / "orig.sprt")
    counted_small, counted_orig = _torch_count(smaller, shape), _torch_count(model, shape)
    # the file's counts are the torch counts (BN folded away: conv/linear only)
    assert small.useful() == small.dense() == counted_small["flops"]
    assert orig.dense() == counted_orig["flops"] and small.params == counted_small["params"]
    theoretical = orig.dense() / small.useful()
    assert theoretical == pytest.approx(counted_orig["flops"] / counted_small["flops"])
    # bisection lands close to the target (channels are discrete)
    target = channel_target(model, shape, 0.7, match)
    achieved = counted_small["flops"] if match == "flops" else counted_small["params"]
    assert achieved == pytest.approx(target, rel=0.15)


def test_channel_amount_given_directly():
    model, shape = build_reference("digits_cnn")
    smaller, info = channel_prune(model, shape, sparsity=None, amount=0.5)
    assert info["channel_amount"] == 0.5 and info["match"] is None
    assert smaller.conv1[0].out_channels == 8 and smaller.conv2[0].out_channels == 16
