"""Write -> read round trips, safetensors compatibility, layout and writer behaviour."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from sparse_rt.format import (
    ALIGNMENT, FORMAT_VERSION, ModelFormatError, encode_weight, parse_model, read_model,
    validate_model, write_model,
)


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("index_dtype", [np.int32, np.uint16])
def test_round_trip_identical(tmp_path, fh, mmap, index_dtype):
    d, t, dense = fh.small_cnn(index_dtype=index_dtype)
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    m = read_model(p, mmap=mmap)
    assert m.meta == d
    assert list(m.tensors) == list(t)  # written in the order given, no padding exposed
    for k, a in t.items():
        assert m.tensors[k].dtype == a.dtype, k
        assert m.tensors[k].shape == a.shape, k
        np.testing.assert_array_equal(m.tensors[k], a, err_msg=k)
        assert not m.tensors[k].flags.writeable
    for name, w in dense.items():  # dense, CSR and BSR decode back to the weight
        np.testing.assert_array_equal(m.dense_weight(name), w.reshape(w.shape[0], -1))
    assert [n.name for n in m.nodes] == [n["name"] for n in d["nodes"]]
    assert m.shapes["y"] == (None, 10) and m.shapes["h1"] == (None, 8, 5, 7)
    assert m.node("pool").output_shape == (None, 16, 3, 4)
    assert m.node("c1").attrs["padding"] == [1, 0, 1, 2]
    assert m.node("c2").attrs["padding"] == [1, 1, 1, 1]  # 2-list expanded
    assert m.node("c2").attrs["stride"] == [1, 1] and m.node("c2").attrs["groups"] == 1
    assert m.node("bn").attrs == {"channels": 8, "form": "stats", "eps": 1e-3}
    assert m.inputs == [("x", (None, 3, 9, 7))] and m.outputs == [("y", (None, 10))]


def test_layout_is_aligned_safetensors(tmp_path, cnn, fh):
    d, t, _ = cnn
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    raw = p.read_bytes()
    header, data = fh.split_file(raw)
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % ALIGNMENT == 0 and raw[8:9] == b"{"
    assert raw[8:8 + n].rstrip(b" ").endswith(b"}")
    spans = sorted(e["data_offsets"] for k, e in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    for k, e in header.items():
        if k == "__metadata__":
            continue
        if k.startswith("__pad_"):
            assert e["dtype"] == "U8" and 1 <= e["shape"][0] < ALIGNMENT
        else:
            assert e["data_offsets"][0] % ALIGNMENT == 0, k
    inner = json.loads(header["__metadata__"]["sparse_rt"])
    assert inner["format"] == "sparse_rt" and inner["format_version"] == FORMAT_VERSION


def test_safetensors_reads_our_files(tmp_path, cnn):
    st = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    d, t, _ = cnn
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    loaded = st.load_file(str(p))
    assert set(loaded) - set(t) == {k for k in loaded if k.startswith("__pad_")}
    for k, a in t.items():
        np.testing.assert_array_equal(loaded[k], a, err_msg=k)
        assert loaded[k].dtype == a.dtype
    with safe_open(str(p), framework="np") as f:
        assert json.loads(f.metadata()["sparse_rt"]) == d


def test_mmap_views_are_aligned(tmp_path, cnn):
    d, t, _ = cnn
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    m = read_model(p)
    for k, a in m.tensors.items():
        if a.size:
            assert a.ctypes.data % ALIGNMENT == 0, k


def test_writer_fills_head_and_converts_numpy_scalars(tmp_path, cnn):
    d, t, _ = cnn
    d = {k: v for k, v in d.items() if k not in ("format", "format_version", "producer")}
    d["nodes"][0]["attrs"]["out_channels"] = np.int64(8)
    d["nodes"][0]["layer_info"]["ms"] = np.float32(0.5)
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    m = read_model(p)
    assert m.meta["format"] == "sparse_rt" and m.meta["format_version"] == FORMAT_VERSION
    assert m.meta["producer"]["name"] == "sparse_rt"
    assert m.meta["nodes"][0]["attrs"]["out_channels"] == 8
    assert "format" not in d  # the caller's dict is not modified


def test_empty_sparse_layer_and_free_vs_fixed_batch(tmp_path):
    w = np.zeros((4, 6), np.float32)
    t = {**encode_weight("fc", w, "csr"), **{}}
    assert t["fc.weight.data"].shape == (0,) and list(t["fc.weight.indptr"]) == [0] * 5
    d = {"inputs": [{"name": "x", "shape": [2, 6], "dtype": "f32"}],
         "outputs": [{"name": "y", "shape": [2, 4], "dtype": "f32"}],
         "nodes": [{"name": "fc", "op": "linear", "inputs": ["x"], "outputs": ["y"],
                    "attrs": {"in_features": 6, "out_features": 4},
                    "weight": {"format": "csr", "shape": [4, 6]}}]}
    p = tmp_path / "e.sprt"
    write_model(p, d, t)
    m = read_model(p)
    assert m.shapes["y"] == (2, 4)
    np.testing.assert_array_equal(m.dense_weight("fc"), w)


def test_write_is_atomic_and_validates_first(tmp_path, cnn):
    d, t, _ = cnn
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    before = p.read_bytes()
    bad = json.loads(json.dumps(d))
    bad["nodes"][0]["op"] = "gelu"
    with pytest.raises(ModelFormatError, match="unknown op 'gelu'"):
        write_model(p, bad, t)
    assert p.read_bytes() == before  # untouched
    with pytest.raises(ModelFormatError, match="float64"):
        write_model(p, d, {**t, "c1.bias": t["c1.bias"].astype(np.float64)})
    with pytest.raises(ModelFormatError, match="format_version"):
        write_model(p, {**d, "format_version": 2}, t)
    assert sorted(os.listdir(tmp_path)) == ["m.sprt"]  # no temporary files left behind


def test_parse_model_from_bytes_and_validate_model(tmp_path, cnn):
    d, t, _ = cnn
    p = tmp_path / "m.sprt"
    write_model(p, d, t)
    m = parse_model(p.read_bytes())
    assert m.path is None and m.meta == d
    m2 = validate_model(d, t)
    assert m2.shapes == m.shapes


@pytest.mark.parametrize("blocksize", [(1, 1), (2, 3), (4, 6), (8, 12)])
def test_encode_bsr_matches_scipy_semantics(blocksize):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((8, 12)).astype(np.float32)
    w[rng.random((8, 12)) < 0.6] = 0
    enc = encode_weight("l", w, "bsr", blocksize=blocksize)
    r, c = blocksize
    assert enc["l.weight.data"].shape[1:] == (r, c)
    assert enc["l.weight.indptr"].shape == (8 // r + 1,)
    sp = pytest.importorskip("scipy.sparse")
    ref = sp.bsr_matrix(w, blocksize=blocksize)
    ref.eliminate_zeros()  # drops all-zero blocks, as encode_weight does
    ref.sort_indices()
    np.testing.assert_array_equal(enc["l.weight.indptr"], ref.indptr)
    np.testing.assert_array_equal(enc["l.weight.indices"], ref.indices)
    np.testing.assert_array_equal(enc["l.weight.data"], ref.data)


def test_format_modules_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, sparse_rt.format, sparse_rt.reference; "
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr or "sparse_rt.format/reference imported torch"
