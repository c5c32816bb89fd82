"""sparsity_report: per-layer numbers, FLOPs, totals; torch's own masks recognised."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
from sparse_rt import prune
from torch import nn
from torch.nn.utils import prune as torch_prune


def test_report_layers_flops_and_totals():
    model = models.digits_cnn()
    prune.magnitude(model, 0.5, pattern=(4, 1))
    report = prune.sparsity_report(model, example_input=(2, 1, 8, 8))
    assert [layer.name for layer in report.layers] == ["conv1.0", "conv2.0", "fc1", "fc2"]
    conv2 = report.layer("conv2.0")
    assert (conv2.pattern, conv2.method, conv2.shape) == (
        "block 4x1",
        "PatternMask",
        (32, 16, 3, 3),
    )
    assert conv2.params == 4608 and conv2.nonzero == 2304 and conv2.sparsity == 0.5
    assert conv2.dense_flops == 2 * 2 * 32 * 8 * 8 * (16 * 9)  # batch 2, 32 maps of 8x8
    assert conv2.flops == 2 * 2 * 8 * 8 * 2304
    fc1 = report.layer("fc1")
    assert fc1.dense_flops == 2 * 2 * 512 * 64 and fc1.flops == 2 * 2 * fc1.nonzero
    first = report.layer("conv1.0")
    assert (first.pattern, first.sparsity, first.flops) == ("dense", 0.0, first.dense_flops)
    assert report.params == 144 + 4608 + 32768 + 640
    assert report.nonzero == 144 + 2304 + 16384 + 640
    assert report.compression == pytest.approx(report.params / report.nonzero)
    assert report.speedup == pytest.approx(report.dense_flops / report.flops)
    assert report.speedup > 1.5
    text = str(report)
    assert "conv2.0" in text and "block 4x1" in text and "compression" in text


def test_report_without_input_has_no_flops():
    report = prune.sparsity_report(prune.magnitude(models.digits_mlp(), 0.5))
    assert report.dense_flops is None and report.flops is None and report.speedup is None
    assert report.layer("fc1").sparsity == 0.5


def test_torch_pruned_models_are_recognised():
    model = models.digits_cnn()
    torch_prune.l1_unstructured(model.fc1, "weight", amount=0.3)
    torch_prune.ln_structured(model.conv2[0], "weight", amount=0.25, n=2, dim=0)
    torch_prune.random_unstructured(model.conv2[1], "weight", amount=0.5)  # a batch-norm scale
    report = prune.sparsity_report(model, example_input=(1, 1, 8, 8))
    fc1 = report.layer("fc1")
    assert (fc1.pattern, fc1.method) == ("unstructured", "L1Unstructured")
    assert fc1.nonzero == fc1.params - round(0.3 * fc1.params)
    conv2 = report.layer("conv2.0")
    assert conv2.pattern == "structured(dim=0)" and conv2.sparsity == 0.25
    assert conv2.flops == conv2.dense_flops * 3 // 4
    bn = report.layer("conv2.1")
    assert bn.kind == "BatchNorm2d" and bn.sparsity == 0.5 and bn.flops is None


def test_combined_and_removed_masks():
    model = models.digits_mlp()
    prune.magnitude(model, 0.5)
    torch_prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    layer = prune.sparsity_report(model).layer("fc1")
    assert layer.method == "PatternMask+L1Unstructured" and layer.sparsity == 0.75
    prune.remove(model)
    after = prune.sparsity_report(model).layer("fc1")
    assert (after.pattern, after.method, after.sparsity) == ("unstructured", "-", 0.75)


def test_report_leaves_the_model_mode_alone():
    model = models.digits_cnn().train()
    running = model.conv1[1].running_mean.clone()
    prune.sparsity_report(model, example_input=torch.randn(4, 1, 8, 8))
    assert model.training and torch.equal(model.conv1[1].running_mean, running)
    with pytest.raises(TypeError, match="model"):
        prune.sparsity_report(nn.Linear(2, 2).weight)
