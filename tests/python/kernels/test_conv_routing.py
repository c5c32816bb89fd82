"""Dense convs go to oneDNN only where it has fast kernels (see ops::prefer_onednn)."""

import numpy as np
import pytest

import sparse_rt
from sparse_rt import _core
from sparse_rt.ops import Conv2d

pytestmark = pytest.mark.skipif(not _core.have_onednn(), reason="built without oneDNN")


def test_stem_conv_uses_direct_kernels():
    # 3 input channels: oneDNN's reference implementation ran 100-3000x slower here.
    conv = Conv2d(np.ones((64, 3, 7, 7), np.float32), stride=2, padding=3)
    assert conv.format == "direct" and conv.kernel.startswith("f32_spconv_")


def test_depthwise_and_wide_convs_use_onednn():
    """Depthwise convs go to oneDNN unless they are 3x3 stride 1 or 2 padding 1 on a path with
    a dwconv kernel (several times faster than oneDNN's, docs/architecture-conv.md)."""
    dw3 = Conv2d(np.ones((32, 1, 3, 3), np.float32), groups=32, padding=1)
    dw_s2 = Conv2d(np.ones((32, 1, 3, 3), np.float32), groups=32, padding=1, stride=2)
    dw5 = Conv2d(np.ones((32, 1, 5, 5), np.float32), groups=32, padding=2)
    wide = Conv2d(np.ones((64, 64, 3, 3), np.float32), padding=1)
    dw_paths = {path for _, path in _core.dwconv_kernels()}
    for dw in (dw3, dw_s2):
        if sparse_rt.get_isa() in dw_paths:
            assert dw.format == "direct" and dw.kernel.startswith("f32_dwconv3x3__")
        else:
            assert dw.format == "dense" and dw.kernel == "f32_conv__onednn"
    assert dw5.format == "dense" and dw5.kernel == "f32_conv__onednn"
    assert wide.format == "dense" and wide.kernel == "f32_conv__onednn"


def test_explicit_dense_avoids_onednns_reference_kernel():
    """format="dense" asks for dense weights, not for oneDNN at any price: where oneDNN has no
    fast kernel (narrow grouped convs: ~1000x slower) the direct kernels run them."""
    stem = Conv2d(np.ones((8, 3, 3, 3), np.float32), format="dense")
    grouped = Conv2d(np.ones((32, 8, 3, 3), np.float32), groups=4, format="dense")
    wide = Conv2d(np.ones((16, 16, 3, 3), np.float32), format="dense")
    assert stem.format == "direct" and stem.kernel.startswith("f32_spconv_")
    assert grouped.format == "direct" and grouped.kernel.startswith("f32_spconv_")
    assert wide.format == "dense" and wide.kernel == "f32_conv__onednn"


def test_executor_routes_the_stem_the_same_way(tmp_path):
    from sparse_rt.format import encode_weight, write_model

    w = np.random.default_rng(0).standard_normal((16, 3, 7, 7)).astype(np.float32)
    doc = {"format": "sparse_rt", "format_version": 1, "producer": {"name": "test"},
           "inputs": [{"name": "x", "shape": [None, 3, 32, 32], "dtype": "f32"}],
           "outputs": [{"name": "y", "shape": [None, 16, 16, 16], "dtype": "f32"}],
           "nodes": [{"name": "stem", "op": "conv2d", "inputs": ["x"], "outputs": ["y"],
                      "attrs": {"in_channels": 3, "out_channels": 16, "kernel": [7, 7],
                                "stride": [2, 2], "padding": [3, 3]},
                      "weight": {"format": "dense", "shape": [16, 147]}}]}
    write_model(tmp_path / "stem.sprt", doc, encode_weight("stem", w, "dense"))
    report = sparse_rt.load(tmp_path / "stem.sprt").report()
    assert report[0]["kernel"].startswith("f32_spconv_"), report


_NO_REFERENCE_KERNELS = """
import numpy as np
from sparse_rt import _core
from sparse_rt.ops import Conv2d
cases = [(64, 64, 3, 1, 1, 56, 1), (128, 128, 3, 2, 1, 28, 1), (32, 32, 5, 1, 2, 28, 32),
         (64, 64, 1, 1, 0, 14, 1), (32, 3, 3, 2, 1, 64, 1)]
for co, ci, k, s, p, hw, g in cases:
    w = np.ones((co, ci // g, k, k), np.float32)
    geometry = (co, ci, k, k, s, s, p, p, g, Conv2d(w, groups=g, padding=p).activation)
    op = _core.DnnlConv2d(np.ascontiguousarray(w.reshape(co, -1)), geometry,
                          np.zeros(co, np.float32))
    for threads in (1, 2):
        impl = op.implementation(1, hw, hw, threads)
        assert impl and not impl.startswith("ref"), (co, ci, k, s, g, threads, impl)
print("ok")
"""


@pytest.mark.parametrize("max_isa", ["", "AVX2"])
def test_onednn_convs_get_jit_kernels_on_avx2_cpus_too(max_isa):
    """DnnlConv2d asks for the blocked layout of oneDNN's vector width (nChw16c with AVX-512,
    nChw8c with AVX2): with the other one oneDNN silently ran its reference kernel, ~2000x
    slower (3x3 64@56^2: 2.5 s). ONEDNN_MAX_CPU_ISA=AVX2 plays an AVX2-only CPU; it is read
    once per process, hence the subprocess."""
    import os
    import subprocess
    import sys

    env = {key: v for key, v in os.environ.items() if key != "ONEDNN_MAX_CPU_ISA"}
    if max_isa:
        env["ONEDNN_MAX_CPU_ISA"] = max_isa
    out = subprocess.run([sys.executable, "-c", _NO_REFERENCE_KERNELS], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr
