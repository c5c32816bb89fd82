"""Channel removal: the smaller model computes what the channel-masked model computes."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
import torch.nn.functional as F
from sparse_rt import prune
from torch import nn

ARCHS = [
    ("resnet18", lambda: models.resnet18(10, width=16), (2, 3, 32, 32)),
    ("resnet50", lambda: models.resnet50(10, width=16), (2, 3, 32, 32)),
    ("mobilenet_v1", lambda: models.mobilenet_v1(10, width_mult=0.25), (2, 3, 32, 32)),
    ("mobilenet_v2", lambda: models.mobilenet_v2(10, width_mult=0.35), (2, 3, 32, 32)),
    (
        "vgg11_bn",
        lambda: models.vgg11_bn(10, input_size=64, width_mult=0.125, hidden=32),
        (2, 3, 64, 64),
    ),
    ("vgg_small", lambda: models.vgg_small(10, width_mult=0.25, hidden=32), (2, 3, 32, 32)),
    ("concat_net", lambda: models.concat_net(10), (2, 3, 16, 16)),
    ("digits_mlp", lambda: models.digits_mlp(10), (2, 64)),
    ("digits_cnn", lambda: models.digits_cnn(10), (2, 1, 8, 8)),
    ("resnet18_full", lambda: models.resnet18(10), (1, 3, 32, 32)),
]


def _one_step_lowers_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> bool:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    torch.manual_seed(1)  # same dropout masks for the comparison
    with torch.no_grad():
        after = F.cross_entropy(model(x), y)
    return bool(torch.isfinite(after)) and float(after) < float(loss.detach())


@pytest.mark.parametrize(("name", "build", "shape"), ARCHS, ids=[a[0] for a in ARCHS])
@pytest.mark.parametrize("importance", ["l1", "random"])
def test_smaller_model_equals_masked_model(
    name, build, shape, importance, randomize_batchnorm, count_params
):
    model = randomize_batchnorm(build())
    x = torch.randn(shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plan = prune.plan_channels(model, 0.5, example_input=x, importance=importance)
    smaller = plan.apply(model)
    masked = plan.apply_masks(prune.copy_model(model))
    assert plan.channels_removed > 0
    with torch.no_grad():
        expected, got = masked(x), smaller(x)
    assert got.shape == model(x).shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert count_params(smaller) < 0.5 * count_params(model)
    for key, value in model.state_dict().items():  # the original is untouched
        assert torch.equal(value, before[key]), key
    assert _one_step_lowers_loss(smaller, torch.randn((8, *shape[1:])), torch.randint(0, 10, (8,)))


def test_channels_is_plan_then_apply():
    model = models.vgg_small(10, width_mult=0.25, hidden=32)
    x = torch.randn(2, 3, 32, 32)
    a = prune.channels(model, 0.5, example_input=x)
    b = prune.plan_channels(model, 0.5, example_input=x).apply(model)
    assert type(a) is type(model)
    torch.testing.assert_close(a(x), b(x))


def test_parameter_counts_drop_as_computed(count_params):
    cnn = prune.channels(models.digits_cnn(), 0.5, example_input=(1, 1, 8, 8))
    # conv1 1->8 (72) + bn (16) + conv2 8->16 (1152) + bn (32)
    # + fc1 (16*4*4)->32 (8224) + fc2 32->10 (330)
    assert count_params(cnn) == 72 + 16 + 1152 + 32 + 8224 + 330
    mlp = prune.channels(models.digits_mlp(), 0.5, example_input=(1, 64))
    assert count_params(mlp) == (64 * 150 + 150) + (150 * 50 + 50) + (50 * 10 + 10)
    # Halving every group of a network of width w gives exactly the network of width w/2.
    resnet = prune.channels(models.resnet18(10, width=16), 0.5, example_input=(1, 3, 32, 32))
    assert count_params(resnet) == count_params(models.resnet18(10, width=8))
    resnet50 = prune.channels(models.resnet50(10, width=16), 0.5, example_input=(1, 3, 32, 32))
    assert count_params(resnet50) == count_params(models.resnet50(10, width=8))
    vgg = prune.channels(
        models.vgg_small(10, width_mult=0.25, hidden=32), 0.5, example_input=(1, 3, 32, 32)
    )
    assert count_params(vgg) == count_params(models.vgg_small(10, width_mult=0.125, hidden=16))


def test_residual_adds_couple_channels():
    model = models.resnet18(10, width=16)
    plan = prune.plan_channels(model, 0.5, example_input=(1, 3, 32, 32))
    stage1 = plan.removed_channels("stem.0")
    assert len(stage1) == 8
    assert plan.removed_channels("layer1.0.conv2.0") == stage1
    assert plan.removed_channels("layer1.1.conv2.0") == stage1
    assert plan.removed_channels("layer2.0.downsample.0") == plan.removed_channels(
        "layer2.1.conv2.0"
    )
    group = next(g for g in plan.groups if "stem.0" in g.producers)
    assert set(group.producers) == {"stem.0", "layer1.0.conv2.0", "layer1.1.conv2.0"}
    assert (group.channels, group.removed) == (16, 8)


def test_depthwise_groups_shrink_with_channels():
    model = models.mobilenet_v1(10, width_mult=0.25)
    smaller = prune.channels(model, 0.5, example_input=(1, 3, 32, 32))
    depthwise = [m for m in smaller.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 13
    for conv in depthwise:
        assert conv.groups == conv.in_channels == conv.out_channels
        assert conv.weight.shape == (conv.out_channels, 1, 3, 3)
    block = smaller.features[3]
    assert block.depthwise[0].groups == smaller.features[2].pointwise[0].out_channels


def test_mobilenet_v2_inverted_residuals_are_coupled():
    model = models.mobilenet_v2(10, width_mult=0.35)
    plan = prune.plan_channels(model, 0.5, example_input=(1, 3, 32, 32))
    # features[2] and features[3] (the 24-channel stage) add into one stream.
    group = next(g for g in plan.groups if "features.2.conv.2.0" in g.producers)
    assert "features.3.conv.2.0" in group.producers
    smaller = plan.apply(model)
    hidden = smaller.features[3].conv[0][0].out_channels
    assert smaller.features[3].conv[1][0].groups == hidden  # the depthwise follows the expansion


def test_flatten_to_linear_removes_h_times_w_inputs_per_channel():
    model = models.vgg_small(10, width_mult=0.25, hidden=32)  # 64 channels x 4 x 4 -> Linear
    plan = prune.plan_channels(model, 0.25, example_input=(1, 3, 32, 32))
    removed = plan.removed_channels("features.14")
    assert len(removed) == 16
    smaller = plan.apply(model)
    assert smaller.classifier[0].in_features == (64 - 16) * 16
    kept_columns = [c for c in range(64 * 16) if c // 16 not in removed]
    kept_rows = [r for r in range(32) if r not in plan.removed_channels("classifier.0")]
    expected = model.classifier[0].weight[kept_rows][:, kept_columns]
    torch.testing.assert_close(smaller.classifier[0].weight, expected)


def test_concat_then_add_couples_through_offsets():
    model = models.concat_net(10)
    plan = prune.plan_channels(model, 0.5, example_input=(1, 3, 16, 16))
    project = plan.removed_channels("project.0")
    from_branches = (
        plan.removed_channels("branch1.0")
        + [16 + c for c in plan.removed_channels("branch2.1.0")]
        + [32 + c for c in plan.removed_channels("branch3.1.0")]
    )
    assert project == sorted(from_branches)
    assert len(project) == 24
    smaller = plan.apply(model)
    assert smaller.fc.in_features == 16 + 8  # cat([reduce 32->16, grow 16->8])


def test_taylor_needs_data_and_ranks_a_planted_useless_filter_last():
    model = models.digits_cnn()
    with torch.no_grad():
        model.conv1[0].weight[3].mul_(20.0)  # the largest filter by far: L1 keeps it...
        model.conv2[0].weight[:, 3].zero_()  # ...but nothing downstream reads it
    generator = torch.Generator().manual_seed(0)
    data = [
        (
            torch.randn(16, 1, 8, 8, generator=generator),
            torch.randint(0, 10, (16,), generator=generator),
        )
        for _ in range(3)
    ]
    taylor = prune.Taylor(data)
    taylor.prepare(model)
    scores = taylor.channels(model.conv1[0], "conv1.0")
    assert (
        int(scores.argmin()) == 3
        and float(scores[3]) == 0.0
        and float(scores.sort().values[1]) > 0.0
    )
    plan = prune.plan_channels(model, 1, example_input=(1, 1, 8, 8), importance="taylor", data=data)
    assert plan.removed_channels("conv1.0") == [3]
    l1_plan = prune.plan_channels(model, 1, example_input=(1, 1, 8, 8), importance="l1")
    assert l1_plan.removed_channels("conv1.0") != [3]
    with pytest.raises(ValueError, match="needs data"):
        prune.plan_channels(model, 1, example_input=(1, 1, 8, 8), importance="taylor")


def test_global_scope_counts_all_channels_and_keeps_every_group_alive():
    model = models.digits_cnn()
    plan = prune.plan_channels(model, 0.9, example_input=(1, 1, 8, 8), scope="global")
    assert plan.channels_removed == round(0.9 * plan.channels_total)
    assert all(g.removed < g.channels for g in plan.groups)


def test_int_amount_filter_and_overrides():
    model = models.digits_cnn()
    plan = prune.plan_channels(model, 3, example_input=(1, 1, 8, 8))
    assert [g.removed for g in plan.groups] == [3, 3, 3]
    plan = prune.plan_channels(
        model, 0.5, example_input=(1, 1, 8, 8), filter_fn=lambda m, n: n != "conv1.0"
    )
    assert plan.removed_channels("conv1.0") == []
    plan = prune.plan_channels(model, 0.5, example_input=(1, 1, 8, 8), overrides={"conv2.0": 0.25})
    assert len(plan.removed_channels("conv2.0")) == 8 and len(plan.removed_channels("conv1.0")) == 8
    plan = prune.plan_channels(model, 1.0, example_input=(1, 1, 8, 8))
    assert all(g.channels - g.removed == 1 for g in plan.groups)  # never below one channel


def test_importance_callable_per_channel():
    model = models.digits_cnn()

    def prefer_high_index(module: nn.Module, name: str) -> torch.Tensor:
        return torch.arange(module.weight.shape[0], dtype=torch.float32)

    plan = prune.plan_channels(
        model, 0.25, example_input=(1, 1, 8, 8), importance=prefer_high_index
    )
    assert plan.removed_channels("conv1.0") == [0, 1, 2, 3]


def test_pruned_masks_are_made_permanent_before_cutting():
    model = models.digits_cnn()
    prune.magnitude(model, 0.5)
    smaller = prune.channels(model, 0.5, example_input=(1, 1, 8, 8))
    assert not prune.is_pruned(smaller) and prune.is_pruned(model)
    assert float((smaller.conv2[0].weight == 0).float().mean()) > 0.3


class _Gated(nn.Module):
    """A squeeze-excitation-like gate (sigmoid), a hard-coded view, and a residual add."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.gate = nn.Conv2d(8, 8, 1)
        self.conv3 = nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        y = torch.relu(self.conv2(x)) * torch.sigmoid(self.gate(x)) + x
        z = self.conv3(y)
        return self.fc(z.view(-1, 4 * 8 * 8))


def test_channels_behind_sigmoid_or_hard_coded_view_are_kept():
    model = _Gated().eval()
    x = torch.randn(2, 3, 8, 8)
    plan = prune.plan_channels(model, 0.5, example_input=x)
    assert plan.removed_channels("conv3") == []  # reshaped with a literal size
    assert plan.removed_channels("gate") == []  # sigmoid(0) != 0
    assert plan.removed_channels("conv1") == []  # coupled to the gate by the multiply-add
    smaller = plan.apply(model)
    torch.testing.assert_close(
        smaller(x), plan.apply_masks(prune.copy_model(model))(x), atol=1e-5, rtol=0
    )


class _Unfollowable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Conv2d(1, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=1, keepdim=True))


class _Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


def test_unfollowable_patterns_raise_naming_the_node():
    with pytest.raises(prune.UnsupportedGraphError, match="'mean'"):
        prune.channels(_Unfollowable(), 0.5, example_input=(1, 3, 8, 8))
    with pytest.raises(ValueError, match="'conv' is called more than once"):
        prune.channels(_Reused(), 0.5, example_input=(1, 4, 8, 8))
    layer_norm = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LayerNorm(4 * 36), nn.Linear(4 * 36, 2)
    )
    with pytest.raises(prune.UnsupportedGraphError, match="LayerNorm"):
        prune.channels(layer_norm, 0.5, example_input=(1, 3, 8, 8))


def test_plan_rejects_another_model():
    plan = prune.plan_channels(models.digits_cnn(), 0.5, example_input=(1, 1, 8, 8))
    with pytest.raises(ValueError, match="another model"):
        plan.apply(models.digits_mlp())
