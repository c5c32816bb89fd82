"""Bad arguments raise ValueError/TypeError naming the offending value."""

from __future__ import annotations

import pytest
import sparse_rt.models as models
import torch
from sparse_rt import prune
from torch import nn


@pytest.mark.parametrize(
    ("amount", "error", "needle"),
    [
        (-0.1, ValueError, "-0.1"),
        (1.5, ValueError, "1.5"),
        (float("nan"), ValueError, "nan"),
        (-3, ValueError, "-3"),
        ("0.5", TypeError, "'0.5'"),
        (True, TypeError, "True"),
        (None, TypeError, "None"),
        (10**9, ValueError, "1000000000"),
    ],
)
def test_bad_amounts(amount, error, needle):
    with pytest.raises(error, match=needle):
        prune.magnitude(models.digits_mlp(), amount)


@pytest.mark.parametrize(
    ("pattern", "error", "needle"),
    [
        ((3, 4), ValueError, r"\(3, 4\).*'fc2'"),  # fc2 has 100 rows
        ((1, 7), ValueError, r"\(1, 7\)"),
        ("5:4", ValueError, "5:4"),
        ("0:4", ValueError, "0:4"),
        ("2:3", ValueError, "'2:3'"),  # 64 inputs are not a multiple of 3
        ("diagonal", ValueError, "'diagonal'"),
        ((4,), ValueError, r"\(4,\)"),
        ((0, 4), ValueError, r"\(0, 4\)"),
        (4, TypeError, "4"),
        ((1.5, 4), TypeError, "1.5"),
    ],
)
def test_bad_patterns(pattern, error, needle):
    with pytest.raises(error, match=needle):
        prune.magnitude(models.digits_mlp(), 0.5, pattern=pattern)


def test_n_m_amount_must_agree_and_scope_must_be_local():
    with pytest.raises(ValueError, match="0.3"):
        prune.magnitude(models.digits_mlp(), 0.3, pattern="2:4")
    with pytest.raises(TypeError, match="2"):
        prune.magnitude(models.digits_mlp(), 2, pattern="2:4")
    with pytest.raises(ValueError, match="'global'"):
        prune.magnitude(models.digits_mlp(), 0.5, pattern="2:4", scope="global")


def test_bad_scope_filter_and_overrides():
    with pytest.raises(ValueError, match="'model'"):
        prune.magnitude(models.digits_mlp(), 0.5, scope="model")
    with pytest.raises(TypeError, match="filter_fn"):
        prune.magnitude(models.digits_mlp(), 0.5, filter_fn="fc1")
    with pytest.raises(ValueError, match="'fc9'"):
        prune.magnitude(models.digits_mlp(), 0.5, overrides={"fc9": 0.1})
    with pytest.raises(ValueError, match="overrides\\['fc1'\\]"):
        prune.magnitude(models.digits_mlp(), 0.5, overrides={"fc1": 2.0})
    with pytest.raises(ValueError, match="no layer selected"):
        prune.magnitude(models.digits_mlp(), 0.5, filter_fn=lambda m, n: False)


def test_pattern_on_a_layer_type_it_cannot_apply_to():
    model = models.digits_cnn()
    with pytest.raises(TypeError, match="'conv1.1'.*BatchNorm2d"):
        prune.magnitude(model, 0.5, filter_fn=lambda m, n: True)
    conv1d = nn.Sequential(nn.Conv1d(3, 8, 3), nn.ReLU(), nn.Conv1d(8, 6, 1))
    prune.magnitude(conv1d, 0.5, pattern="2:4", filter_fn=lambda m, n: n == "2")  # 8 inputs: fine
    assert float(conv1d[2].weight_mask.mean()) == 0.5
    with pytest.raises(ValueError, match="'0'"):  # 3*3 = 9 inputs are not a multiple of 4
        prune.magnitude(
            nn.Sequential(nn.Conv1d(3, 8, 3)), 0.5, pattern="2:4", filter_fn=prune.every_layer
        )


def test_bad_importance_and_taylor_arguments():
    with pytest.raises(ValueError, match="'hessian'"):
        prune.weights(models.digits_mlp(), 0.5, importance="hessian")
    with pytest.raises(TypeError, match="42"):
        prune.weights(models.digits_mlp(), 0.5, importance=42)
    with pytest.raises(ValueError, match="needs data"):
        prune.weights(models.digits_mlp(), 0.5, importance="taylor")
    with pytest.raises(ValueError, match="only used with importance='taylor'"):
        prune.weights(models.digits_mlp(), 0.5, importance="l1", data=[])
    with pytest.raises(ValueError, match="no batches"):
        prune.weights(models.digits_mlp(), 0.5, importance=prune.Taylor([]))
    with pytest.raises(TypeError, match="int"):
        prune.Taylor(5)
    with pytest.raises(ValueError, match="shape"):
        prune.weights(models.digits_mlp(), 0.5, importance=lambda m, n: torch.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        prune.weights(
            models.digits_mlp(),
            0.5,
            importance=lambda m, n: torch.full(m.weight.shape, float("nan")),
        )
    with pytest.raises(ValueError, match="-1"):
        prune.Magnitude(p=-1)


def test_bad_channel_arguments():
    model = models.digits_cnn()
    with pytest.raises(TypeError, match="example_input"):
        prune.channels(model, 0.5)  # example_input is required
    with pytest.raises(ValueError, match="1.2"):
        prune.channels(model, 1.2, example_input=(1, 1, 8, 8))
    with pytest.raises(ValueError, match="'fc2'"):  # the logits can never lose channels
        prune.channels(model, 0.5, example_input=(1, 1, 8, 8), overrides={"fc2": 0.5})
    with pytest.raises(ValueError, match="'nope'"):
        prune.channels(model, 0.5, example_input=(1, 1, 8, 8), overrides={"nope": 0.5})
    with pytest.raises(ValueError, match="-1"):
        prune.channels(model, 0.5, example_input=(1, -1, 8, 8))
    with pytest.raises(TypeError, match="Parameter"):
        prune.channels(model.conv1[0].weight, 0.5, example_input=(1, 1, 8, 8))


def test_bad_helper_arguments():
    model = models.digits_mlp()
    with pytest.raises(TypeError, match="Checkpoint"):
        prune.rewind_weights(model, {"fc1.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        prune.fine_tune(
            model,
            [],
            torch.nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=0,
        )
    with pytest.raises(TypeError, match="optimizer"):
        prune.fine_tune(model, [], torch.nn.functional.cross_entropy, "sgd")
    with pytest.raises(ValueError, match="rounds must be >= 1, got 0"):
        prune.Iterative(0.5, rounds=0)
    with pytest.raises(TypeError, match="mask"):
        prune.apply_mask(model.fc1, "weight", [1, 0])
    with pytest.raises(ValueError, match="'kernel'"):
        prune.apply_mask(model.fc1, "kernel", torch.ones(1))
