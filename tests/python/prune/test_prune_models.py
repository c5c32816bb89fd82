"""The reference models: shapes, fx-traceability, the layer vocabulary the exporter supports."""

from __future__ import annotations

import operator
import subprocess
import sys

import pytest
import sparse_rt.models as models
import torch
from torch import fx, nn

ALLOWED_MODULES = (
    nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Sigmoid,
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity,
)  # fmt: skip
ALLOWED_FUNCTIONS = {operator.add, torch.add, torch.cat, torch.flatten, torch.softmax}
ALLOWED_METHODS = {"view", "reshape", "flatten", "size", "softmax"}

CASES = [
    ("resnet18", lambda n: models.resnet18(n, width=16), (2, 3, 32, 32)),
    ("resnet50", lambda n: models.resnet50(n, width=16), (2, 3, 32, 32)),
    ("mobilenet_v1", lambda n: models.mobilenet_v1(n, width_mult=0.25), (2, 3, 32, 32)),
    ("mobilenet_v2", lambda n: models.mobilenet_v2(n, width_mult=0.35), (2, 3, 32, 32)),
    (
        "vgg11_bn",
        lambda n: models.vgg11_bn(n, input_size=64, width_mult=0.125, hidden=32),
        (2, 3, 64, 64),
    ),
    ("vgg_small", lambda n: models.vgg_small(n, width_mult=0.25, hidden=32), (2, 3, 32, 32)),
    ("concat_net", lambda n: models.concat_net(n), (2, 3, 16, 16)),
    ("digits_mlp", lambda n: models.digits_mlp(n), (2, 64)),
    ("digits_cnn", lambda n: models.digits_cnn(n), (2, 1, 8, 8)),
]


@pytest.mark.parametrize(("name", "build", "shape"), CASES, ids=[c[0] for c in CASES])
def test_builds_traces_and_uses_supported_layers(name, build, shape):
    model = build(7)
    assert not model.training, f"{name} should be built in eval mode"
    traced = fx.symbolic_trace(model)
    x = torch.randn(shape)
    out = model(x)
    assert out.shape == (shape[0], 7)
    torch.testing.assert_close(traced(x), out)
    for node in traced.graph.nodes:
        if node.op == "call_module":
            module = traced.get_submodule(node.target)
            assert isinstance(
                module, ALLOWED_MODULES
            ), f"{name}: {node.target} is {type(module).__name__}"
            if isinstance(module, nn.AdaptiveAvgPool2d):
                assert module.output_size in (1, (1, 1))
        elif node.op == "call_function":
            assert node.target in ALLOWED_FUNCTIONS, f"{name}: function {node.target}"
        elif node.op == "call_method":
            assert node.target in ALLOWED_METHODS, f"{name}: method {node.target}"


def test_full_size_parameter_counts_match_the_published_architectures():
    # The torchvision implementations of the same architectures have exactly these counts.
    assert sum(p.numel() for p in models.resnet18().parameters()) == 11_689_512
    assert sum(p.numel() for p in models.resnet50().parameters()) == 25_557_032
    assert sum(p.numel() for p in models.mobilenet_v2().parameters()) == 3_504_872
    assert sum(p.numel() for p in models.mobilenet_v1().parameters()) == 4_231_976


def test_digits_shapes():
    mlp = models.digits_mlp()
    assert [m.out_features for m in mlp.modules() if isinstance(m, nn.Linear)] == [300, 100, 10]
    assert mlp(torch.randn(3, 1, 8, 8)).shape == (3, 10)  # flattens 8x8 input too
    cnn = models.digits_cnn(num_classes=4)
    assert cnn(torch.randn(3, 1, 8, 8)).shape == (3, 4)


def test_fixed_input_shapes_are_exposed():
    for model in (models.vgg_small(input_size=16), models.digits_mlp(), models.digits_cnn()):
        assert model(torch.randn(2, *model.input_shape)).shape == (2, 10)
    assert models.vgg11_bn(input_size=64).input_shape == (3, 64, 64)


def test_concat_net_uses_cat_and_add():
    traced = fx.symbolic_trace(models.concat_net())
    targets = [n.target for n in traced.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.cat) == 2
    assert operator.add in targets


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_num_classes_raise_value_error(bad):
    with pytest.raises(ValueError, match=str(bad)):
        models.resnet18(bad)


def test_non_int_num_classes_raise_type_error():
    with pytest.raises(TypeError, match="'ten'"):
        models.digits_cnn("ten")


def test_vgg_input_size_must_divide():
    with pytest.raises(ValueError, match="100"):
        models.vgg11_bn(input_size=100)


def test_importing_sparse_rt_does_not_import_torch():
    code = "import sys, sparse_rt; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(
            "sparse_rt is not importable in a fresh interpreter here: "
            f"{result.stderr.strip()[-200:]}"
        )
    assert result.stdout.strip() == "False"
