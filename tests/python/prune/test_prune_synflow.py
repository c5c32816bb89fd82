"""SynFlow: data-free, exact global count, no layer collapse at extreme sparsity."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
from sparse_rt import prune
from torch import nn


def _masks(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: m.weight_mask.clone()
        for name, m in model.named_modules()
        if hasattr(m, "weight_mask")
    }


def test_synflow_reads_only_the_input_shape():
    a = models.vgg_small(10, width_mult=0.25, hidden=32)
    b = models.vgg_small(10, width_mult=0.25, hidden=32)
    b.load_state_dict(a.state_dict())
    prune.synflow(a, 0.9, example_input=(1, 3, 32, 32), iterations=5)
    prune.synflow(b, 0.9, example_input=torch.full((4, 3, 32, 32), float("nan")), iterations=5)
    masks_a, masks_b = _masks(a), _masks(b)
    assert masks_a.keys() == masks_b.keys() and len(masks_a) == 6
    for name in masks_a:
        assert torch.equal(masks_a[name], masks_b[name]), name


def test_synflow_prunes_the_exact_global_count_and_leaves_weights_untouched():
    model = models.digits_cnn()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    prune.synflow(model, 0.8, example_input=(1, 1, 8, 8), iterations=4, filter_fn=prune.every_layer)
    pruned = [m for m in model.modules() if hasattr(m, "weight_mask")]
    total = sum(m.weight.numel() for m in pruned)
    assert sum(int((m.weight_mask == 0).sum()) for m in pruned) == round(0.8 * total)
    state = model.state_dict()
    assert torch.equal(state["conv2.0.weight_orig"], original["conv2.0.weight"])
    assert torch.equal(state["conv2.1.running_mean"], original["conv2.1.running_mean"])


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda: models.vgg_small(10, width_mult=0.25, hidden=32), (1, 3, 32, 32)),
        (lambda: models.digits_cnn(), (1, 1, 8, 8)),
        (lambda: models.mobilenet_v1(10, width_mult=0.25), (1, 3, 32, 32)),
    ],
    ids=["vgg_small", "digits_cnn", "mobilenet_v1"],
)
def test_no_layer_collapse_at_99_percent(build, shape):
    model = build()
    prune.synflow(model, 0.99, example_input=shape, iterations=10, filter_fn=prune.every_layer)
    report = prune.sparsity_report(model)
    assert report.sparsity == pytest.approx(0.99, abs=1e-4)
    for layer in report.layers:
        assert layer.nonzero > 0, f"layer {layer.name} collapsed"


def test_global_magnitude_collapses_where_synflow_does_not():
    # The failure mode SynFlow was designed against (Tanaka et al. 2020, Fig. 1).
    model = models.digits_cnn()
    prune.magnitude(model, 0.99, scope="global", filter_fn=prune.every_layer)
    assert min(layer.nonzero for layer in prune.sparsity_report(model).layers) == 0


def test_synflow_with_blocks_and_as_one_shot_importance():
    model = models.vgg_small(10, width_mult=0.25, hidden=32)
    prune.synflow(model, 0.75, example_input=(1, 3, 32, 32), iterations=3, pattern=(4, 1))
    for name, mask in _masks(model).items():
        blocks = mask.reshape(mask.shape[0] // 4, 4, -1)
        assert bool((blocks.amin(dim=1) == blocks.amax(dim=1)).all()), name
    other = models.vgg_small(10, width_mult=0.25, hidden=32)
    prune.weights(other, 0.5, importance=prune.SynFlow((1, 3, 32, 32)), scope="global")
    report = prune.sparsity_report(other)
    pruned = [layer for layer in report.layers if layer.method == "PatternMask"]
    assert sum(layer.params - layer.nonzero for layer in pruned) == round(
        0.5 * sum(layer.params for layer in pruned)
    )


def test_synflow_rejects_n_m_and_bad_iterations():
    model = models.digits_cnn()
    with pytest.raises(ValueError, match="2:4"):
        prune.synflow(model, 0.5, example_input=(1, 1, 8, 8), pattern="2:4")
    with pytest.raises(ValueError, match="iterations must be >= 1, got 0"):
        prune.synflow(model, 0.5, example_input=(1, 1, 8, 8), iterations=0)
    with pytest.raises(TypeError, match="example_input"):
        prune.synflow(model, 0.5, example_input="1x1x8x8")
