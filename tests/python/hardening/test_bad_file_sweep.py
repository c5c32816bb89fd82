"""Deterministic bad-file sweeps through the C++ loader (sparse_rt.load), complementing
tests/python/runtime/test_bad_files.py (which samples cut points and random corruptions):
every truncation point and every single-bit flip of the header of small valid files, every
header length, every index position made out of range, every indptr position made
non-monotone, negative sizes, and huge declared sizes checked against resident memory.
Each case must raise ModelFormatError (or load, when the mutation leaves a valid file), and
the C++ loader and the numpy reference reader must agree on which."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SMALL = "linear_dense.sprt"          # 780 bytes
SPARSE = ("linear_csr_u16_softmax.sprt", "linear_bsr.sprt", "conv_csr_bn_pool.sprt",
          "conv_bsr_add_concat.sprt", "depthwise_scale_shift.sprt")


def same_verdict(files, raw):
    cpp = files.cpp_error(raw)
    py = files.py_error(raw)
    assert (cpp is None) == (py is None), f"C++: {cpp}\npython: {py}"
    return cpp


@pytest.mark.parametrize("name", [SMALL, "conv_csr_bn_pool.sprt"])
def test_every_truncation_point(files, name):
    raw = files.seed(name).read_bytes()
    for k in range(len(raw)):
        msg = files.cpp_error(raw[:k])
        assert msg is not None, f"a file cut to {k} of {len(raw)} bytes loaded"
        assert ("too short" if k < 8 else "truncated") in msg, (k, msg)


def test_every_bit_flip_of_the_header(files):
    raw = files.seed(SMALL).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    accepted = 0
    for pos in range(8 + n):
        for bit in range(8):
            bad = bytearray(raw)
            bad[pos] ^= 1 << bit
            accepted += same_verdict(files, bytes(bad)) is None
    # a flip in a float's digits or in a free-form string can leave a valid file; most break it
    assert accepted < (8 + n) * 8 // 10


def test_every_header_length(files):
    raw = files.seed(SMALL).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    for lie in [*range(0, len(raw) + 80), 2**31, 2**32 + n, 2**63, 2**64 - 1, 100_000_001]:
        bad = struct.pack("<Q", lie) + raw[8:]
        msg = same_verdict(files, bad)
        if lie == n:
            assert msg is None
            continue
        assert msg is not None, lie
        if lie < 2 or lie > 100_000_000:
            assert "out of range" in msg, (lie, msg)
        elif 8 + lie > len(raw):
            assert "exceeds" in msg, (lie, msg)


def _tensor_view(raw: bytes, name: str):
    """(byte offset in the file, dtype) of tensor `name`."""
    n = struct.unpack("<Q", raw[:8])[0]
    e = json.loads(raw[8:8 + n])[name]
    dt = {"I32": np.int32, "U16": np.uint16, "F32": np.float32}[e["dtype"]]
    return 8 + n + e["data_offsets"][0], dt, e["shape"]


def _poke(raw: bytes, off: int, dt, idx: int, value) -> bytes:
    b = bytearray(raw)
    item = np.dtype(dt).itemsize
    b[off + idx * item: off + (idx + 1) * item] = np.array([value], dt).tobytes()
    return bytes(b)


@pytest.mark.parametrize("name", SPARSE)
def test_every_index_out_of_range(files, name):
    raw = files.seed(name).read_bytes()
    node = "dw" if name.startswith("depthwise") else ("c1" if name.startswith("conv") else "fc")
    off, dt, shape = _tensor_view(raw, f"{node}.weight.indices")
    doc = json.loads(json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
                     ["sparse_rt"])
    w = next(n["weight"] for n in doc["nodes"] if n["name"] == node)
    cols = w["shape"][1] // (w.get("blocksize", [1, 1])[1])
    big = [cols, cols + 1, np.iinfo(dt).max]
    if dt == np.int32:
        big += [-1, np.iinfo(np.int32).min]
    for p in range(shape[0]):
        for v in big:
            msg = same_verdict(files, _poke(raw, off, dt, p, v))
            assert msg is not None and "out of range" in msg, (p, v, msg)


@pytest.mark.parametrize("name", SPARSE)
def test_every_indptr_position_made_non_monotone(files, name):
    raw = files.seed(name).read_bytes()
    node = "dw" if name.startswith("depthwise") else ("c1" if name.startswith("conv") else "fc")
    off, dt, shape = _tensor_view(raw, f"{node}.weight.indptr")
    ip = np.frombuffer(raw, dt, shape[0], off)
    last = shape[0] - 1
    for i in range(shape[0]):
        values = {np.iinfo(np.int32).min, np.iinfo(np.int32).max}
        if i > 0:
            values.add(int(ip[i - 1]) - 1)   # below the previous entry
        if i < last:
            values.add(int(ip[i + 1]) + 1)   # above the next entry
        for v in values:
            msg = same_verdict(files, _poke(raw, off, dt, i, v))
            assert msg is not None and "indptr" in msg, (i, v, msg)


NEGATIVE = [
    ("tensor shape", lambda h, d: h["fc.weight"].__setitem__("shape", [-3, -4])),
    ("tensor offsets", lambda h, d: h["fc.weight"].__setitem__("data_offsets", [-64, -16])),
    ("input dim", lambda h, d: d["inputs"][0].__setitem__("shape", [None, -4])),
    ("input dim 0", lambda h, d: d["inputs"][0].__setitem__("shape", [None, 0])),
    ("input batch", lambda h, d: d["inputs"][0].__setitem__("shape", [-2, 4])),
    ("output dim", lambda h, d: d["outputs"][0].__setitem__("shape", [None, -3])),
    ("weight shape", lambda h, d: d["nodes"][0]["weight"].__setitem__("shape", [-3, -4])),
    ("in_features", lambda h, d: d["nodes"][0]["attrs"].__setitem__("in_features", -4)),
    ("out_features", lambda h, d: d["nodes"][0]["attrs"].__setitem__("out_features", -3)),
    ("format_version", lambda h, d: d.__setitem__("format_version", -1)),
]


@pytest.mark.parametrize("mutate", [m for _, m in NEGATIVE], ids=[i for i, _ in NEGATIVE])
def test_negative_sizes(files, hd, mutate):
    raw = files.seed(SMALL).read_bytes()
    header, data = hd.split_file(raw)
    doc = json.loads(header["__metadata__"]["sparse_rt"])
    mutate(header, doc)
    header["__metadata__"]["sparse_rt"] = json.dumps(doc)
    assert same_verdict(files, hd.join_file(header, data)) is not None


# Files whose declared sizes are huge but not backed by bytes. Each must be rejected, or
# loaded without allocating from the declared size (resident memory measured in a child).
HUGE_CHILD = textwrap.dedent("""
    import json, resource, struct, sys
    import numpy as np
    import sparse_rt
    from sparse_rt.format import ModelFormatError
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    base = peak()
    out = []
    for path in sys.argv[1:]:
        try:
            m = sparse_rt.load(path, num_threads=1)
            out.append(["loaded", m.inputs[0].shape])
            del m
        except ValueError as e:
            out.append([type(e).__name__, str(e)[:200]])
    print(json.dumps({"base": base, "peak": peak(), "results": out}))
""")


def _huge_cases(hd):
    from sparse_rt.format import encode_weight
    io = hd.make_corpus._io
    doc = hd.make_corpus._doc
    lin = hd.make_corpus._linear
    big = 2**31 - 1
    cases = {}
    # a tensor whose shape claims 2^62 elements (the byte count overflows / mismatches)
    d = doc([io("x", [None, 4])], [io("y", [None, 3])], [lin("fc", "x", "y", 4, 3, "dense")])
    cases["tensor_2^62"] = (d, {"fc.weight": np.zeros((3, 4), np.float32)},
                            lambda h: h["fc.weight"].__setitem__("shape", [2**31, 2**31]))
    cases["tensor_2^64"] = (d, {"fc.weight": np.zeros((3, 4), np.float32)},
                            lambda h: h["fc.weight"].__setitem__("shape", [2**32, 2**32, 4]))
    # CSR linear with K = 2^31 - 1 columns, one row, no stored values (valid, K unbacked)
    t = encode_weight("fc", np.zeros((1, 1), np.float32), "csr")
    d = doc([io("x", [None, big])], [io("y", [None, 1])], [lin("fc", "x", "y", big, 1, "csr")])
    d["nodes"][0]["weight"]["shape"] = [1, big]
    cases["csr_K_2^31"] = (d, t, None)
    # BSR linear with one empty block row of 2^30 rows (the planner refuses it)
    m = 2**30
    t = {"fc.weight.data": np.zeros((0, m, 1), np.float32),
         "fc.weight.indices": np.zeros(0, np.int32), "fc.weight.indptr": np.zeros(2, np.int32)}
    d = doc([io("x", [None, 1])], [io("y", [None, m])], [lin("fc", "x", "y", 1, m, "bsr",
                                                             bs=(m, 1))])
    cases["bsr_rows_2^30"] = (d, t, None)
    # 1x1 conv over a 46340 x 46340 image: 2^31 floats per sample, allocated only at run time
    side = 46340
    t = encode_weight("c", np.ones((1, 1, 1, 1), np.float32), "dense")
    d = doc([io("x", [None, 1, side, side])], [io("y", [None, 1, side, side])],
            [hd.make_corpus._conv("c", "x", "y", 1, 1, 1, "dense", pad=[0, 0])])
    cases["conv_2^31_per_sample"] = (d, t, None)
    # 3x3 conv, 2^31 / 9 columns of im2col scratch per output pixel row
    t = encode_weight("c", np.zeros((1, 1, 3, 3), np.float32), "csr")
    d = doc([io("x", [None, 1, side, side])], [io("y", [None, 1, side, side])],
            [hd.make_corpus._conv("c", "x", "y", 1, 1, 3, "csr")])
    cases["conv3x3_2^31_per_sample"] = (d, t, None)
    return cases


def test_huge_declared_sizes_are_not_allocated(tmp_path, hd):
    from sparse_rt.format import write_model
    paths, names = [], []
    for name, (d, t, edit) in _huge_cases(hd).items():
        p = tmp_path / f"{name}.sprt"
        write_model(p, d, t)
        if edit is not None:
            p.write_bytes(hd.edit_header(p.read_bytes(), edit))
        paths.append(str(p))
        names.append(name)
    r = subprocess.run([sys.executable, "-c", HUGE_CHILD, *paths], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    verdict = dict(zip(names, rep["results"]))
    assert verdict["tensor_2^62"][0] == "ModelFormatError"
    assert verdict["tensor_2^64"][0] == "ModelFormatError"
    assert "more than 2^64" in verdict["tensor_2^64"][1]
    assert verdict["bsr_rows_2^30"][0] == "ValueError"
    for name in ("csr_K_2^31", "conv_2^31_per_sample", "conv3x3_2^31_per_sample"):
        assert verdict[name][0] == "loaded", (name, verdict[name])
    grew = rep["peak"] - rep["base"]
    assert grew < 64 * 2**20, f"peak RSS grew by {grew / 2**20:.1f} MB while loading: {verdict}"
