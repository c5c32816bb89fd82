import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as torch_prune

import sparse_rt
from sparse_rt import models
from sparse_rt.exporter import SUPPORTED_OPS
from sparse_rt.format import read_model


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


def _rel(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def test_torch_prune_global_unstructured_exports_and_matches(tmp_path, run_file, randomize_bn):
    torch.manual_seed(0)
    model = randomize_bn(models.resnet18(num_classes=10))
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.9)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    summary = sparse_rt.export(model, x, tmp_path / "m.sprt", measure=False)
    assert summary.max_relative_error <= 1e-4
    total = sum(np.prod(layer.shape) for layer in summary.layers)
    kept = sum(layer.density * np.prod(layer.shape) for layer in summary.layers)
    assert kept / total == pytest.approx(0.1, abs=0.002)
    with torch.no_grad():
        assert _rel(run_file(tmp_path / "m.sprt", x.numpy()), model(x).numpy()) <= 1e-4


def test_plain_zeroed_weights_are_sparse(tmp_path):
    torch.manual_seed(0)
    model = Small().eval()
    with torch.no_grad():
        model.fc.weight[torch.rand_like(model.fc.weight) < 0.95] = 0
    summary = sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "s.sprt",
                               measure=False)
    fc = next(layer for layer in summary.layers if layer.name == "fc")
    assert fc.format == "csr" and fc.density < 0.1


def test_batch_norm_folded_and_relu_fused(tmp_path):
    model = Small().eval()
    sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "s.sprt", measure=False)
    ops = [n["op"] for n in read_model(tmp_path / "s.sprt").meta["nodes"]]
    assert ops == ["conv2d", "max_pool2d", "reshape", "linear"]
    conv = read_model(tmp_path / "s.sprt").meta["nodes"][0]
    assert conv["attrs"]["activation"] == "relu"
    assert conv["layer_info"]["folded_batch_norm"] == "bn"


def test_file_size_of_90_percent_model(tmp_path):
    torch.manual_seed(0)
    model = models.resnet18(num_classes=10)
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.9)
    x = torch.randn(1, 3, 32, 32)
    dense = sparse_rt.export(model, x, tmp_path / "d.sprt", format="dense", measure=False)
    sparse = sparse_rt.export(model, x, tmp_path / "s.sprt", format="csr", measure=False)
    auto = sparse_rt.export(model, x, tmp_path / "a.sprt", measure=False)
    assert sparse.file_bytes <= 0.22 * dense.file_bytes, (sparse.file_bytes, dense.file_bytes)
    assert auto.file_bytes <= 0.22 * dense.file_bytes, (auto.file_bytes, dense.file_bytes)


def test_format_dict_and_forced_block(tmp_path):
    torch.manual_seed(0)
    model = Small().eval()
    s = sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "s.sprt",
                         format={"conv": "dense", "fc": "bsr"}, block=(1, 4), measure=False)
    assert s.formats() == {"conv": "dense", "fc": "bsr1x4"}
    with pytest.raises(ValueError, match="unknown layers"):
        sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "t.sprt",
                         format={"nope": "csr"}, measure=False)
    with pytest.raises(ValueError, match="does not divide"):
        sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "t.sprt", format="bsr",
                         block=(3, 3), measure=False)


def test_bad_arguments(tmp_path):
    model = Small()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="format 'coo'"):
        sparse_rt.export(model, x, tmp_path / "a.sprt", format="coo")
    with pytest.raises(TypeError, match="nn.Module"):
        sparse_rt.export(object(), x, tmp_path / "a.sprt")
    with pytest.raises(ValueError, match="float32"):
        sparse_rt.export(model, x.double(), tmp_path / "a.sprt")
    with pytest.raises(ValueError, match="block"):
        sparse_rt.export(model, x, tmp_path / "a.sprt", block=(0, 4))
    assert model.training  # left as it was


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 4)

    def forward(self, x):
        return self.lstm(x)[0]


class WithSort(nn.Module):
    def forward(self, x):
        return x.sort()[0]


@pytest.mark.parametrize("model, x, node", [(WithLSTM(), torch.randn(2, 3, 4), "lstm"),
                                            (WithSort(), torch.randn(2, 5), "sort")])
def test_unsupported_op_names_the_node(tmp_path, model, x, node):
    with pytest.raises(sparse_rt.UnsupportedOpError) as info:
        sparse_rt.export(model, x, tmp_path / "u.sprt")
    msg = str(info.value)
    assert f"node '{node}'" in msg
    assert "test_export_api.py" in msg  # where it came from in the user's code
    assert "supported operations" in msg and "nn.Conv2d" in msg
    assert isinstance(info.value, ValueError)


def test_supported_list_is_documented():
    import pathlib

    doc = (pathlib.Path(__file__).parents[3] / "docs" / "export.md").read_text()
    for entry in SUPPORTED_OPS:
        assert entry.split(",")[0].split(" (")[0] in doc, entry


def test_verification_names_first_diverging_layer(tmp_path, monkeypatch):
    from sparse_rt.exporter import verify as verify_mod

    model = Small().eval()
    real = verify_mod.run_reference

    def corrupt(mf, x, intermediates=False):
        out = real(mf, x, intermediates=intermediates)
        if intermediates:
            first = mf.meta["nodes"][0]["outputs"][0]
            out[first] = out[first] + 1.0
        return out

    monkeypatch.setattr(verify_mod, "run_reference", corrupt)
    monkeypatch.setattr(verify_mod, "_run_runtime", lambda p, x: (np.zeros((1, 5), np.float32),
                                                                   "stub"))
    with pytest.raises(sparse_rt.ExportVerificationError, match="first diverging layer: node 'conv'"):
        sparse_rt.export(model, torch.randn(1, 3, 8, 8), tmp_path / "v.sprt", measure=False)


def test_summary_is_readable(tmp_path):
    s = sparse_rt.export(Small().eval(), torch.randn(1, 3, 8, 8), tmp_path / "s.sprt",
                         measure=False)
    text = str(s)
    assert "conv" in text and "fc" in text and "verified" in text
    assert s.file_bytes == (tmp_path / "s.sprt").stat().st_size


def test_import_sparse_rt_export_does_not_import_torch():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, sparse_rt; "
                          "print(callable(sparse_rt.export), 'torch' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True False", out.stderr
