"""Invalid files through the C++ reader (sparse_rt.load): ModelFormatError with a useful
message, never a crash. Also differential against the Python reference reader: on the same
corrupted bytes both accept or both reject, blaming the same tensor or node."""

from __future__ import annotations

import copy
import json
import random
import re
import struct

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import ModelFormatError, parse_model


@pytest.fixture
def good(tmp_path, rt):
    d, t = rt.tiny_net()
    p = rt.write(tmp_path / "good.sprt", d, t)
    return p.read_bytes()


class Loader:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.k = 0

    def path(self, raw: bytes):
        self.k += 1
        p = self.dir / f"bad{self.k}.sprt"
        p.write_bytes(raw)
        return p

    def error(self, raw: bytes):
        """The C++ loader's ModelFormatError message for `raw` (None if it loads)."""
        p = self.path(raw)
        try:
            sparse_rt.load(p)
        except ModelFormatError as e:
            msg = str(e)
            assert msg.startswith(f"{p}: "), msg  # the path is named
            return msg[len(str(p)) + 2:]
        return None

    def expect(self, raw: bytes, *fragments):
        msg = self.error(raw)
        assert msg is not None, "the C++ loader accepted an invalid file"
        for f in fragments:
            assert f in msg, f"expected {f!r} in: {msg}"
        return msg


@pytest.fixture
def cpp(tmp_path):
    return Loader(tmp_path)


def python_error(raw: bytes):
    try:
        parse_model(raw)
    except ModelFormatError as e:
        return str(e)
    return None


_BLAME = re.compile(r"(tensor '[^']*'|node '[^']*'(?: \([a-z0-9_]+\))?|graph (?:input|output) "
                    r"'[^']*'|document: [a-z]+s\[\d+\]|document|header|nodes\[\d+\]|"
                    r"the data buffer|file|header length)")


def context(msg: str) -> str:
    """What a message blames, e.g. "tensor 'c1.bias'", "node 'c2' (conv2d)", "document"."""
    m = _BLAME.match(msg)
    return m.group(1) if m else " ".join(msg.split()[:3])


def same_verdict(cpp, raw: bytes, what=""):
    py = python_error(raw)
    cc = cpp.error(raw)
    assert (py is None) == (cc is None), f"{what}: python={py!r} c++={cc!r}"
    if py is not None:
        assert context(py) == context(cc), f"{what}: python={py!r} c++={cc!r}"
    return cc


def edit_header(rt, raw, fn):
    h, data = rt.split_file(raw)
    fn(h)
    return rt.join_file(h, data)


def edit_doc(rt, raw, fn):
    def go(h):
        d = json.loads(h["__metadata__"]["sparse_rt"])
        fn(d)
        h["__metadata__"]["sparse_rt"] = json.dumps(d)
    return edit_header(rt, raw, go)


def poke(rt, raw, tensor, index, value):
    h, _ = rt.split_file(raw)
    n = struct.unpack("<Q", raw[:8])[0]
    e = h[tensor]
    dt = {"F32": "<f4", "I32": "<i4", "U16": "<u2"}[e["dtype"]]
    size = np.dtype(dt).itemsize
    pos = 8 + n + e["data_offsets"][0] + index * size
    b = bytearray(raw)
    b[pos:pos + size] = np.array([value], dtype=dt).tobytes()
    return bytes(b)


def node(d, name):
    return next(n for n in d["nodes"] if n["name"] == name)


def test_good_file_loads(tmp_path, good):
    p = tmp_path / "ok.sprt"
    p.write_bytes(good)
    assert sparse_rt.load(p).inputs[0].name == "x"


def test_missing_file():
    with pytest.raises(ValueError, match="cannot open model file"):
        sparse_rt.load("/nonexistent/model.sprt")


def test_truncated_at_every_section_boundary(rt, cpp, good):
    h, _ = rt.split_file(good)
    n = struct.unpack("<Q", good[:8])[0]
    cuts = {0, 1, 4, 7, 8, 9, 8 + n - 1, 8 + n, len(good) - 1}
    for k, e in h.items():
        if k != "__metadata__":
            b, end = e["data_offsets"]
            cuts |= {8 + n + b, 8 + n + b + 1, 8 + n + end - 1}
    cuts.discard(len(good))
    for k in sorted(cuts):
        msg = cpp.expect(good[:k])
        assert ("too short" if k < 8 else "truncated") in msg, (k, msg)


def test_truncated_anywhere_in_the_header(cpp, good):
    n = struct.unpack("<Q", good[:8])[0]
    for k in range(8, 8 + n + 1, 7):
        assert "truncated" in cpp.expect(good[:k])


@pytest.mark.parametrize("lie, fragment", [
    (lambda n, size: 0, "out of range"),
    (lambda n, size: 1, "out of range"),
    (lambda n, size: 2**63 + 5, "out of range"),
    (lambda n, size: 2**64 - 1, "out of range"),
    (lambda n, size: 100_000_001, "out of range"),
    (lambda n, size: size - 7, "exceeds"),
    (lambda n, size: size + 10**6, "exceeds"),
    (lambda n, size: n + 64, "header"),
    (lambda n, size: n + 1, ""),
    (lambda n, size: n - 1, ""),
    (lambda n, size: n - 64, ""),
    (lambda n, size: 10, ""),
])
def test_header_length_lies(cpp, good, lie, fragment):
    n = struct.unpack("<Q", good[:8])[0]
    bad = struct.pack("<Q", lie(n, len(good))) + good[8:]
    cpp.expect(bad, fragment)
    same_verdict(cpp, bad)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda h: h["c2.weight.data"].__setitem__("data_offsets", [10**6, 10**6 + 4]),
     "tensor 'c2.weight.data': data_offsets [1000000, 1000004] extend past the end"),
    (lambda h: h["c2.bias"].__setitem__("data_offsets", [2**64 - 8, 2**64 - 4]),
     "extend past the end of the data buffer"),
    (lambda h: h["c2.bias"].__setitem__("data_offsets", [64, 32]), "0 <= begin <= end"),
    (lambda h: h["c2.bias"].__setitem__("data_offsets", [-32, 0]), "0 <= begin <= end"),
    (lambda h: h["c2.bias"].__setitem__("data_offsets", [0]), "must be [begin, end]"),
    (lambda h: h["c2.bias"].__setitem__("shape", [9]), "needs 36 bytes"),
    (lambda h: h["c2.bias"].__setitem__("shape", [2**40, 2**40]), "needs more than 2^64 bytes"),
    (lambda h: h["c2.bias"].__setitem__("shape", [2**63] * 8), "bytes but data_offsets"),
    (lambda h: h["c2.bias"].__setitem__("shape", [1] * 9), "at most 8"),
    (lambda h: h["c2.bias"].__setitem__("dtype", "F16"),
     "'F16' is known to safetensors but not allowed"),
    (lambda h: h["c2.bias"].__setitem__("dtype", "Q4_K"), "'Q4_K' is not allowed"),
    (lambda h: h["c2.weight.indptr"].__setitem__("dtype", "F32"),
     "node 'c2' (conv2d): tensor 'c2.weight.indptr' has dtype F32, expected I32"),
    (lambda h: h["c2.weight.data"].__setitem__("dtype", "I32"),
     "tensor 'c2.weight.data' has dtype I32, expected F32"),
    (lambda h: h["c2.bias"].pop("shape"), "missing ['shape']"),
    (lambda h: h.__setitem__("__pad_99__", h.pop("c2.bias")), "a padding tensor must be U8"),
    (lambda h: h.__setitem__("__evil__", h.pop("c2.bias")), "reserved"),
    (lambda h: h.pop("__metadata__"), "no '__metadata__'"),
    (lambda h: h["__metadata__"].pop("sparse_rt"), "no 'sparse_rt' entry"),
    (lambda h: h["__metadata__"].__setitem__("x", 3), "__metadata__['x'] must be a string"),
    (lambda h: h["__metadata__"].__setitem__("sparse_rt", "[" * 100000), "nested deeper than 64"),
])
def test_tensor_table_problems(rt, cpp, good, mutate, fragment):
    bad = edit_header(rt, good, mutate)
    cpp.expect(bad, fragment)
    same_verdict(cpp, bad)


def test_overlap_gap_trailing(rt, cpp, good):
    cpp.expect(good + bytes(64), "trailing bytes")
    h, _ = rt.split_file(good)
    spans = sorted((e["data_offsets"], k) for k, e in h.items() if k != "__metadata__")
    (b1, e1), second = spans[1]
    bad = edit_header(rt, good, lambda hh: hh[second].__setitem__("data_offsets", [b1 - 4, e1 - 4]))
    cpp.expect(bad, f"tensor '{second}'", "overlap")
    cpp.expect(edit_header(rt, good, lambda hh: hh.pop(second)), "gap of")


def test_header_json_problems(rt, cpp, good):
    h, data = rt.split_file(good)
    text = json.dumps(h).encode()

    def with_text(t):
        t += b" " * (-(8 + len(t)) % 64)
        return struct.pack("<Q", len(t)) + t + data
    cpp.expect(with_text(b" " + text), "does not start with '{'")
    cpp.expect(with_text(text[:-1] + b",}"), "not valid JSON")
    cpp.expect(with_text(text.replace(b'"dtype"', b'"d\xfftype"', 1)), "UTF-8")
    entry = json.dumps({"c2.bias": h["c2.bias"]}).encode()[1:-1]
    cpp.expect(with_text(text[:-1] + b"," + entry + b"}"), "duplicate key 'c2.bias'")
    cpp.expect(with_text(text + b"[]"), "not valid JSON")
    # the data buffer must start on a 64-byte boundary
    t = text + b" " * ((-(8 + len(text)) % 64) + 1)
    cpp.expect(struct.pack("<Q", len(t)) + t + data, "multiple of 64")


def test_document_json_problems(rt, cpp, good):
    cpp.expect(edit_doc(rt, good, lambda d: node(d, "bn1")["attrs"].__setitem__("eps", float("nan"))),
               "not valid JSON")
    deep = {}
    for _ in range(70):
        deep = {"a": deep}
    cpp.expect(edit_doc(rt, good, lambda d: node(d, "c1").__setitem__("layer_info", deep)),
               "nested deeper than 64")


def test_index_out_of_range_and_indptr(rt, cpp, good):
    cpp.expect(poke(rt, good, "c2.weight.indices", 3, 72),
               "node 'c2' (conv2d): tensor 'c2.weight.indices'[3] = 72", "must be in [0, 72)")
    cpp.expect(poke(rt, good, "c2.weight.indices", 0, -1), "'c2.weight.indices'[0] = -1")
    cpp.expect(poke(rt, good, "fc.weight.indices", 1, 4), "'fc.weight.indices'[1] = 4",
               "block column must be in [0, 4)")
    h, data = rt.split_file(good)
    b, e = h["c2.weight.indptr"]["data_offsets"]
    ip = np.frombuffer(data[b:e], dtype="<i4")
    row = int(np.argmax(np.diff(ip) > 0))
    cpp.expect(poke(rt, good, "c2.weight.indptr", row + 1, int(ip[row]) - 1), "decreases at row")
    cpp.expect(poke(rt, good, "c2.weight.indptr", 0, 1), "'c2.weight.indptr'[0] must be 0")
    cpp.expect(poke(rt, good, "c2.weight.indptr", len(ip) - 1, 2**31 - 1), "holds")
    # a duplicate column inside a row
    b, e = h["c2.weight.indices"]["data_offsets"]
    idx = np.frombuffer(data[b:e], dtype="<i4")
    r = int(np.argmax(np.diff(ip) >= 2))
    p0 = int(ip[r])
    cpp.expect(poke(rt, good, "c2.weight.indices", p0 + 1, int(idx[p0])),
               f"row {r} is not strictly increasing")


def test_uint16_index_out_of_range(tmp_path, rt, cpp):
    d, t = rt.tiny_net(index_dtype=np.uint16)
    raw = rt.write(tmp_path / "u16.sprt", d, t).read_bytes()
    cpp.expect(poke(rt, raw, "c2.weight.indices", 0, 65535), "= 65535")


def test_negative_variance(rt, cpp, good):
    cpp.expect(poke(rt, good, "bn1.var", 2, -0.5), "tensor 'bn1.var'[2] = -0.5", "variance")
    cpp.expect(poke(rt, good, "bn1.var", 0, float("nan")), "'bn1.var'[0] = nan")


def test_format_name_and_version(rt, cpp, good):
    cpp.expect(edit_doc(rt, good, lambda d: d.__setitem__("format", "onnx")),
               "not a sparse_rt model")
    msg = cpp.expect(edit_doc(rt, good, lambda d: d.__setitem__("format_version", 2)),
                     "format_version 2 is newer than this reader supports (up to 1)", "upgrade")
    assert "\n" not in msg
    cpp.expect(edit_doc(rt, good, lambda d: d.__setitem__("format_version", 2**70)), "is newer")
    for v in (0, "1", 1.0, True, None, -3):
        cpp.expect(edit_doc(rt, good, lambda d: d.__setitem__("format_version", v)),
                   "'format_version' must be a positive integer")

    def future(h):  # a newer version is reported before anything else it may break
        d = json.loads(h["__metadata__"]["sparse_rt"])
        d["format_version"] = 7
        d["nodes"][0]["op"] = "new_op"
        h["__metadata__"]["sparse_rt"] = json.dumps(d)
        h["c2.bias"]["dtype"] = "F16"
    cpp.expect(edit_header(rt, good, future), "format_version 7 is newer")


DOC_CASES = [
    ("unknown op", lambda d: node(d, "c2").__setitem__("op", "gelu"),
     ["node 'c2': unknown op 'gelu'", "known ops: conv2d"]),
    ("unknown top field", lambda d: d.__setitem__("graph", []), ["unknown field 'graph'"]),
    ("no producer", lambda d: d.pop("producer"), ["'producer' must be an object"]),
    ("input dtype", lambda d: d["inputs"][0].__setitem__("dtype", "f16"),
     ["graph input 'x': dtype must be \"f32\""]),
    ("input huge", lambda d: d["inputs"][0].__setitem__("shape", [None, 3, 2**31 - 1, 9]),
     ["elements per sample"]),
    ("dup node", lambda d: node(d, "c2").__setitem__("name", "c1"), ["duplicate node name"]),
    ("forward ref", lambda d: node(d, "c2").__setitem__("inputs", ["h4"]),
     ["node 'c2' (conv2d): input 'h4' is neither a graph input nor the output of an earlier"]),
    ("dup value", lambda d: node(d, "c2").__setitem__("outputs", ["h1"]),
     ["output 'h1' is already defined"]),
    ("output shape", lambda d: d["outputs"][0].__setitem__("shape", [None, 11]),
     ["graph output 'y': declared shape [null, 11] but the graph computes [null, 10]"]),
    ("in_features", lambda d: node(d, "fc")["attrs"].__setitem__("in_features", 15),
     ["node 'fc' (linear): input has 16 features but in_features=15"]),
    ("weight shape", lambda d: node(d, "c2")["weight"].__setitem__("shape", [8, 73]),
     ["node 'c2' (conv2d): weight.shape must be [8, 72]"]),
    ("blocksize", lambda d: node(d, "c3")["weight"].__setitem__("blocksize", [3, 8]),
     ["weight.blocksize [3, 8] does not divide the weight shape [8, 72]"]),
    ("groups", lambda d: node(d, "dw")["attrs"].__setitem__("groups", 3),
     ["groups=3 must divide in_channels=8"]),
    ("kernel too big", lambda d: node(d, "c1")["attrs"].__setitem__("dilation", [7, 1]),
     ["does not fit the padded input"]),
    ("unknown attr", lambda d: node(d, "c1")["attrs"].__setitem__("stide", [1, 1]),
     ["unknown attribute(s) 'stide'"]),
    ("missing attr", lambda d: node(d, "c1")["attrs"].pop("in_channels"),
     ["node 'c1' (conv2d): missing required attribute 'in_channels'"]),
    ("activation", lambda d: node(d, "c2")["attrs"].__setitem__("activation", "gelu"),
     ["attrs.activation must be one of none, relu, relu6, hardswish, sigmoid"]),
    ("stride float", lambda d: node(d, "c1")["attrs"].__setitem__("stride", [2.0, 1]),
     ["attrs.stride[0] must be an integer"]),
    ("add shapes", lambda d: node(d, "res").__setitem__("inputs", ["h3", "x"]),
     ["add does not broadcast"]),
    ("pool padding", lambda d: node(d, "pool")["attrs"].__setitem__("padding", [2, 1]),
     ["exceeds half the kernel"]),
    ("bn channels", lambda d: node(d, "bn1")["attrs"].__setitem__("channels", 7),
     ["must have channels=7 in dimension 1"]),
]


@pytest.mark.parametrize("mutate, fragments", [c[1:] for c in DOC_CASES],
                         ids=[c[0] for c in DOC_CASES])
def test_document_problems(rt, cpp, mutate, fragments):
    d, t = rt.tiny_net()
    d = copy.deepcopy(d)
    mutate(d)
    raw = rt.build_file(d, t)
    cpp.expect(raw, *fragments)
    same_verdict(cpp, raw)


def test_missing_unused_and_wrong_tensors(rt, cpp):
    d, t = rt.tiny_net()
    cpp.expect(rt.build_file(d, {k: v for k, v in t.items() if k != "c2.bias"}),
               "node 'c2' (conv2d): missing tensor 'c2.bias'")
    cpp.expect(rt.build_file(d, {**t, "extra.w": np.zeros(3, np.float32)}),
               "tensor 'extra.w' is not used by any node")
    cpp.expect(rt.build_file(d, {**t, "c1.weight": t["c1.weight"].reshape(8, 27)}),
               "tensor 'c1.weight' has shape [8, 27], expected [8, 3, 3, 3]")
    t2 = dict(t)
    t2["c2.weight.indices"] = t["c2.weight.indices"].astype(np.uint8)
    cpp.expect(rt.build_file(d, t2), "has dtype U8, expected I32 or U16")


# ---- differential fuzzing against the Python reader -----------------------------------------

_POOL = [0, -1, 1, 2, 3, 7, 2**31, 2**63, 2**64 + 1, 1.5, 1.0, -0.0, True, False, None, "",
         "x", "relu", "csr", "bsr", "dense", [], [1], [0, 0], [2, 2], [1, 1, 1, 1],
         [None, 8], {}, {"a": 1}]


def _mutate(rng: random.Random, doc):
    """One random structural mutation of a JSON tree, in place."""
    paths = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k in v:
                walk(v[k], path + [k])
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, path + [i])
    walk(doc, [])
    path = rng.choice(paths[1:])
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    r = rng.random()
    if r < 0.6:
        parent[last] = copy.deepcopy(rng.choice(_POOL))
    elif r < 0.8:
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif isinstance(parent, dict):
        parent[rng.choice(["extra", "stride", "bias", "axis", "eps", "groups"])] = \
            copy.deepcopy(rng.choice(_POOL))
    else:
        parent.append(copy.deepcopy(rng.choice(_POOL)))


def test_fuzz_documents_same_verdict(rt, cpp):
    """Random document mutations: Python and C++ agree on accept/reject and on what to blame;
    files both accept also run (no crash) and agree with the reference."""
    d0, t = rt.tiny_net()
    rng = random.Random(1234)
    accepted = rejected = 0
    for i in range(400):
        d = copy.deepcopy(d0)
        for _ in range(rng.randint(1, 2)):
            _mutate(rng, d)
        raw = rt.build_file(d, t)
        if same_verdict(cpp, raw, f"case {i}: {json.dumps(d)[:300]}") is None:
            accepted += 1
        else:
            rejected += 1
    assert rejected > 200 and accepted >= 1, (accepted, rejected)


def test_fuzz_bytes_same_verdict(rt, cpp, good):
    """Single-byte corruptions anywhere: both readers agree; nothing crashes."""
    rng = np.random.default_rng(99)
    n = struct.unpack("<Q", good[:8])[0]
    positions = np.concatenate([rng.integers(0, 8 + n, 300), rng.integers(8 + n, len(good), 200)])
    outcomes = {"ok": 0, "error": 0}
    for pos in positions:
        b = bytearray(good)
        b[pos] = (b[pos] + int(rng.integers(1, 256))) % 256
        msg = same_verdict(cpp, bytes(b), f"byte {pos}")
        outcomes["error" if msg else "ok"] += 1
    assert outcomes["error"] > 150 and outcomes["ok"] > 0


@pytest.mark.parametrize("levels, ok", [(63, True), (64, True), (65, False)])
def test_depth_limit_boundary_agrees(rt, cpp, good, levels, ok):
    """64 nested objects/lists are allowed, 65 are not; scalars add no level (§2.1)."""
    def nest(n):  # n objects, the innermost holding a scalar and a list of scalars
        v = {"leaf": 1, "list": [1, 2]}
        for _ in range(n - 1):
            v = {"a": v}
        return v
    # document (1) > nodes (2) > node (3) > layer_info = nest's outermost (4): the list sits
    # at level n + 4
    bad = edit_doc(rt, good, lambda d: node(d, "c1").__setitem__("layer_info", nest(levels - 4)))
    assert (python_error(bad) is None) == ok
    assert (cpp.error(bad) is None) == ok


def test_huge_unbacked_bsr_is_refused_without_allocating(rt, cpp, tmp_path):
    """A valid file whose BSR weight declares 2^30 rows in one empty block row: tiny on disk,
    so the loader must not allocate from the row count (docs/format.md §2.5)."""
    m = 2**30
    nodes = [{"name": "fc", "op": "linear", "inputs": ["x"], "outputs": ["y"],
              "attrs": {"in_features": 1, "out_features": m},
              "weight": {"format": "bsr", "shape": [m, 1], "blocksize": [m, 1]}}]
    t = {"fc.weight.data": np.zeros((0, m, 1), np.float32),
         "fc.weight.indices": np.zeros(0, np.int32),
         "fc.weight.indptr": np.zeros(2, np.int32)}
    raw = rt.build_file(rt.doc([rt.io("x", [None, 1])], [rt.io("y", [None, m])], nodes), t)
    assert python_error(raw) is None  # a valid file
    with pytest.raises(ValueError, match="node 'fc': expanding its BSR weight"):
        sparse_rt.load(cpp.path(raw))
