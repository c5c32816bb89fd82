"""Every reference model, dense and pruned five ways, exported and run by sparse_rt."""

import numpy as np
import pytest
import torch

import sparse_rt
from sparse_rt import models, prune

MODELS = {
    "resnet18": (lambda: models.resnet18(num_classes=10), (3, 32, 32)),
    "resnet50": (lambda: models.resnet50(num_classes=10), (3, 32, 32)),
    "mobilenet_v1": (lambda: models.mobilenet_v1(num_classes=10), (3, 32, 32)),
    "mobilenet_v2": (lambda: models.mobilenet_v2(num_classes=10), (3, 32, 32)),
    "vgg_small": (lambda: models.vgg_small(num_classes=10), None),
    "concat_net": (lambda: models.concat_net(num_classes=10), (3, 16, 16)),
    "digits_mlp": (lambda: models.digits_mlp(), (64,)),
    "digits_cnn": (lambda: models.digits_cnn(), (1, 8, 8)),
}
PATTERNS = ("dense", "unstructured", "block4x4", "2:4", "channels")


def _input_shape(name, model):
    shape = MODELS[name][1]
    return shape if shape is not None else tuple(getattr(model, "input_shape", (3, 32, 32)))


def _apply(pattern, model, example):
    if pattern == "dense":
        return model
    if pattern == "unstructured":
        return prune.magnitude(model, 0.9, scope="global")
    if pattern == "block4x4":
        return prune.magnitude(model, 0.9, pattern=(4, 4), filter_fn=_divisible_by(4, 4))
    if pattern == "2:4":
        return prune.magnitude(model, None, pattern="2:4", filter_fn=_divisible_by(1, 4))
    if pattern == "channels":
        return prune.channels(model, 0.5, importance="l1", example_input=example)
    raise AssertionError(pattern)


def _divisible_by(r, c):
    def keep(module, name):
        if not isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            return False
        w = module.weight.reshape(module.weight.shape[0], -1)
        groups = getattr(module, "groups", 1)
        return (w.shape[0] // groups) % r == 0 and w.shape[1] % c == 0 and w.shape[1] >= 4

    return keep


def _rel(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", list(MODELS))
def test_exported_model_matches_torch(name, pattern, tmp_path, run_file, randomize_bn):
    torch.manual_seed(0)
    model = MODELS[name][0]()
    shape = _input_shape(name, model)
    example = torch.randn(4, *shape)
    randomize_bn(model)
    model = _apply(pattern, model, example)
    model.eval()
    path = tmp_path / f"{name}-{pattern}.sprt"
    summary = sparse_rt.export(model, example, path, measure=False)
    assert summary.verified and summary.max_relative_error <= 1e-4, summary
    for batch in (1, 4):
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            want = model(x).numpy()
        got = run_file(path, x.numpy())
        assert got.shape == want.shape
        err = _rel(got, want)
        assert err <= 1e-4, f"{name} {pattern} batch {batch}: relative error {err:.2e}"
    if pattern == "block4x4":
        assert any(layer.format == "bsr" for layer in summary.layers), str(summary)
    if pattern == "unstructured":
        assert any(layer.format in ("csr", "bsr") for layer in summary.layers), str(summary)
