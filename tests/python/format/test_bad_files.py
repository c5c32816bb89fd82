"""Invalid files: every rule of docs/format.md raises ModelFormatError with a useful message."""

from __future__ import annotations

import copy
import json
import struct
import tracemalloc

import numpy as np
import pytest

from sparse_rt.format import ModelFormatError, parse_model, read_model, write_model


@pytest.fixture
def good(tmp_path, cnn):
    d, t, _ = cnn
    p = tmp_path / "good.sprt"
    write_model(p, d, t)
    return p.read_bytes()


def expect(raw, *fragments):
    """parse_model(raw) must raise ModelFormatError whose message holds every fragment."""
    with pytest.raises(ModelFormatError) as ei:
        parse_model(raw)
    msg = str(ei.value)
    for f in fragments:
        assert f in msg, f"expected {f!r} in: {msg}"
    return msg


def edit_header(fh, raw, fn, *, align=True):
    h, data = fh.split_file(raw)
    fn(h)
    return fh.join_file(h, data, align=align)


def edit_doc(fh, raw, fn):
    def go(h):
        d = json.loads(h["__metadata__"]["sparse_rt"])
        fn(d)
        h["__metadata__"]["sparse_rt"] = json.dumps(d)
    return edit_header(fh, raw, go)


def node(d, name):
    return next(n for n in d["nodes"] if n["name"] == name)


def poke(fh, raw, tensor, index, value):
    """Overwrite element `index` of a stored tensor (flat index) in the file bytes."""
    h, _ = fh.split_file(raw)
    n = struct.unpack("<Q", raw[:8])[0]
    e = h[tensor]
    dt = {"F32": "<f4", "I32": "<i4", "U16": "<u2"}[e["dtype"]]
    size = np.dtype(dt).itemsize
    pos = 8 + n + e["data_offsets"][0] + index * size
    b = bytearray(raw)
    b[pos:pos + size] = np.array([value], dtype=dt).tobytes()
    return bytes(b)


def read_tensor(fh, raw, tensor):
    h, data = fh.split_file(raw)
    e = h[tensor]
    dt = {"F32": "<f4", "I32": "<i4", "U16": "<u2"}[e["dtype"]]
    return np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype=dt)


# ---- the good file is good ----------------------------------------------------------------

def test_good_file_loads(good):
    assert parse_model(good).meta["format"] == "sparse_rt"


# ---- truncation ---------------------------------------------------------------------------

def test_truncated_at_every_byte(fh, good):
    n = struct.unpack("<Q", good[:8])[0]
    for k in range(len(good)):
        with pytest.raises(ModelFormatError) as ei:
            parse_model(good[:k])
        msg = str(ei.value)
        if k < 8:
            assert "too short" in msg, (k, msg)
        else:
            assert "truncated" in msg, (k, n, msg)


def test_truncated_at_section_boundaries_on_disk(tmp_path, fh, good):
    h, _ = fh.split_file(good)
    n = struct.unpack("<Q", good[:8])[0]
    cuts = {0, 4, 8, 9, 8 + n - 1, 8 + n, len(good) - 1}
    for k, e in h.items():
        if k != "__metadata__":
            cuts |= {8 + n + e["data_offsets"][0], 8 + n + e["data_offsets"][1] - 1}
    cuts.discard(len(good))
    for k in sorted(cuts):
        p = tmp_path / f"t{k}.sprt"
        p.write_bytes(good[:k])
        for mmap in (True, False):
            with pytest.raises(ModelFormatError, match="too short|truncated") as ei:
                read_model(p, mmap=mmap)
            assert str(p) in str(ei.value)  # the path is named


# ---- the header length --------------------------------------------------------------------

@pytest.mark.parametrize("lie, fragment", [
    (lambda n, size: 0, "out of range"),
    (lambda n, size: 1, "out of range"),
    (lambda n, size: 2**63 + 5, "out of range"),
    (lambda n, size: 100_000_001, "out of range"),
    (lambda n, size: size - 7, "exceeds"),
    (lambda n, size: size + 10**6, "exceeds"),
    (lambda n, size: n + 64, "header"),
    (lambda n, size: n + 1, ""),
    (lambda n, size: n - 1, ""),
    (lambda n, size: n - 64, ""),
    (lambda n, size: 10, ""),
])
def test_header_length_lies(good, lie, fragment):
    n = struct.unpack("<Q", good[:8])[0]
    bad = struct.pack("<Q", lie(n, len(good))) + good[8:]
    expect(bad, fragment)


# ---- header JSON --------------------------------------------------------------------------

def _with_header_text(fh, good, text: bytes, align=True):
    _, data = fh.split_file(good)
    if align:
        text += b" " * (-(8 + len(text)) % 64)
    return struct.pack("<Q", len(text)) + text + data


def test_header_not_json_or_not_object(fh, good):
    h, _ = fh.split_file(good)
    text = json.dumps(h).encode()
    expect(_with_header_text(fh, good, b" " + text), "does not start with '{'")
    expect(_with_header_text(fh, good, text[:-1] + b",}"), "not valid JSON")
    expect(_with_header_text(fh, good, text.replace(b'"dtype"', b'"d\xfftype"', 1)), "UTF-8")


def test_duplicate_keys_rejected(fh, good):
    h, _ = fh.split_file(good)
    text = json.dumps(h).encode()
    entry = json.dumps({"c1.bias": h["c1.bias"]}).encode()[1:-1]
    expect(_with_header_text(fh, good, text[:-1] + b"," + entry + b"}"),
           "duplicate key 'c1.bias'")


def test_nan_and_deep_nesting_rejected(fh, good):
    msg = expect(edit_doc(fh, good, lambda d: node(d, "bn")["attrs"].__setitem__("eps",
                                                                                  float("nan"))),
                 "not valid JSON")
    assert "NaN" in msg

    def nest(depth):
        v = {}
        for _ in range(depth):
            v = {"a": v}
        return v
    expect(edit_doc(fh, good, lambda d: node(d, "c1").__setitem__("layer_info", nest(70))),
           "nested deeper than 64")
    # deep enough to exhaust Python's recursion limit inside the JSON parser
    deep = "[" * 100_000 + "]" * 100_000
    expect(edit_header(fh, good, lambda h: h["__metadata__"].__setitem__("sparse_rt", deep)),
           "nested deeper than 64")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda h: h.pop("__metadata__"), "no '__metadata__'"),
    (lambda h: h["__metadata__"].__setitem__("x", 3), "__metadata__['x'] must be a string"),
    (lambda h: h["__metadata__"].pop("sparse_rt"), "no 'sparse_rt' entry"),
    (lambda h: h["__metadata__"].__setitem__("sparse_rt", "{oops"), "not valid JSON"),
    (lambda h: h["__metadata__"].__setitem__("sparse_rt", "[1]"), "must be a JSON object"),
])
def test_metadata_problems(fh, good, mutate, fragment):
    expect(edit_header(fh, good, mutate), fragment)


def test_format_name_and_version(fh, good):
    expect(edit_doc(fh, good, lambda d: d.__setitem__("format", "onnx")), "not a sparse_rt model")
    msg = expect(edit_doc(fh, good, lambda d: d.__setitem__("format_version", 2)),
                 "format_version 2 is newer than this reader supports (up to 1)", "upgrade")
    assert msg.count("\n") == 0
    for v in (0, "1", 1.0, True, None):
        expect(edit_doc(fh, good, lambda d: d.__setitem__("format_version", v)),
               "'format_version' must be a positive integer")


def test_future_version_reported_before_other_problems(fh, good):
    def future(h):
        d = json.loads(h["__metadata__"]["sparse_rt"])
        d["format_version"] = 7
        d["nodes"][0]["op"] = "new_op"
        h["__metadata__"]["sparse_rt"] = json.dumps(d)
        h["c1.bias"]["dtype"] = "F16"
    expect(edit_header(fh, good, future), "format_version 7 is newer")


# ---- tensor table -------------------------------------------------------------------------

def test_data_buffer_must_be_aligned(fh, good):
    h, data = fh.split_file(good)
    text = json.dumps(h).encode()
    text += b" " * ((-(8 + len(text)) % 64) + 1)
    expect(struct.pack("<Q", len(text)) + text + data, "data buffer starts at byte",
           "multiple of 64")


def test_unaligned_tensor_rejected(fh, cnn):
    d, t, _ = cnn
    raw = fh.build_file(d, t, align=False)
    n = struct.unpack("<Q", raw[:8])[0]
    pad = -(8 + n) % 64
    raw = struct.pack("<Q", n + pad) + raw[8:8 + n] + b" " * pad + raw[8 + n:]  # header only
    expect(raw, "not a multiple of 64")


@pytest.mark.parametrize("mutate, fragment", [
    (lambda h: h["c1.bias"].__setitem__("extra", 1), "exactly dtype, shape, data_offsets"),
    (lambda h: h["c1.bias"].pop("shape"), "missing ['shape']"),
    (lambda h: h["c1.bias"].__setitem__("dtype", "F16"), "'F16' is known to safetensors but not"
                                                          " allowed"),
    (lambda h: h["c1.bias"].__setitem__("dtype", "Q4_K"), "'Q4_K' is not allowed"),
    (lambda h: h["c1.bias"].__setitem__("dtype", ["F32"]), "dtype must be a string"),
    (lambda h: h["c1.weight.indptr"].__setitem__("dtype", "F32"),
     "tensor 'c1.weight.indptr' has dtype F32, expected I32"),
    (lambda h: h["c1.weight.data"].__setitem__("dtype", "I32"),
     "tensor 'c1.weight.data' has dtype I32, expected F32"),
    (lambda h: h["c1.bias"].__setitem__("shape", [9]), "needs 36 bytes"),
    (lambda h: h["c1.bias"].__setitem__("shape", [-8]), "non-negative integers"),
    (lambda h: h["c1.bias"].__setitem__("shape", [1] * 9), "at most 8"),
    (lambda h: h["c1.bias"].__setitem__("shape", [2**40, 2**40]),
     f"needs {2**80 * 4} bytes"),
    (lambda h: h["c1.bias"].__setitem__("shape", [2**63] * 8), "bytes but data_offsets"),
    (lambda h: h["c1.bias"].__setitem__("data_offsets", [0]), "must be [begin, end]"),
    (lambda h: h["c1.bias"].__setitem__("data_offsets", [64, 32]), "0 <= begin <= end"),
    (lambda h: h["c1.bias"].__setitem__("data_offsets", [-32, 0]), "0 <= begin <= end"),
    (lambda h: h["c1.bias"].__setitem__("data_offsets", [10**6, 10**6 + 32]),
     "extend past the end of the data buffer"),
    (lambda h: h.__setitem__("__pad_99__", h.pop("c1.bias")), "a padding tensor must be U8"),
    (lambda h: h.__setitem__("__evil__", h.pop("c1.bias")), "reserved"),
])
def test_tensor_table_problems(fh, good, mutate, fragment):
    expect(edit_header(fh, good, mutate), fragment)


def test_overlap_gap_and_trailing_bytes(fh, good):
    h, data = fh.split_file(good)
    names = [k for k in h if k != "__metadata__"]
    spans = sorted((h[k]["data_offsets"], k) for k in names)
    (b0, e0), first = spans[0]
    (b1, e1), second = spans[1]

    def overlap(hh):  # second tensor starts inside the first, with the same length
        hh[second]["data_offsets"] = [b1 - 4, e1 - 4]
    expect(edit_header(fh, good, overlap), f"tensor '{second}'", f"overlap tensor '{first}'")

    def gap(hh):
        hh.pop(second)
    expect(edit_header(fh, good, gap), "gap of")
    expect(good + bytes(64), "trailing bytes")


def test_huge_shape_rejected_without_allocating(fh, good):
    bad = edit_header(fh, good, lambda h: h["c1.weight.data"].__setitem__("shape", [2**45]))
    tracemalloc.start()
    try:
        expect(bad, "tensor 'c1.weight.data'", "needs")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20


# ---- CSR / BSR invariants -----------------------------------------------------------------

def test_index_out_of_range(fh, good):
    expect(poke(fh, good, "c1.weight.indices", 3, 27), "tensor 'c1.weight.indices'[3] = 27",
           "must be in [0, 27)")
    expect(poke(fh, good, "c1.weight.indices", 0, -1), "'c1.weight.indices'[0] = -1")
    expect(poke(fh, good, "fc.weight.indices", 1, 4), "'fc.weight.indices'[1] = 4",
           "block column must be in [0, 4)")


def test_uint16_index_out_of_range(tmp_path, fh):
    d, t, _ = fh.small_cnn(index_dtype=np.uint16)
    p = tmp_path / "u16.sprt"
    write_model(p, d, t)
    expect(poke(fh, p.read_bytes(), "c1.weight.indices", 0, 65535), "= 65535")


def test_indptr_problems(fh, good):
    ip = read_tensor(fh, good, "c1.weight.indptr")
    nnz = int(ip[-1])
    expect(poke(fh, good, "c1.weight.indptr", 2, int(ip[1]) - 1),
           "tensor 'c1.weight.indptr' decreases at row 1")
    expect(poke(fh, good, "c1.weight.indptr", 0, 1), "'c1.weight.indptr'[0] must be 0")
    expect(poke(fh, good, "c1.weight.indptr", len(ip) - 1, nnz - 1),
           f"'c1.weight.indptr'[-1] = {nnz - 1} but 'c1.weight.indices' holds {nnz}")
    expect(poke(fh, good, "c1.weight.indptr", len(ip) - 1, 2**31 - 1), "holds")
    expect(poke(fh, good, "fc.weight.indptr", 1, 100), "decreases")


def test_unsorted_or_duplicate_indices(fh, good):
    ip = read_tensor(fh, good, "c1.weight.indptr")
    idx = read_tensor(fh, good, "c1.weight.indices")
    row = int(np.argmax(np.diff(ip) >= 2))
    p0 = int(ip[row])
    expect(poke(fh, good, "c1.weight.indices", p0 + 1, int(idx[p0])),
           f"row {row} is not strictly increasing")
    swapped = poke(fh, poke(fh, good, "c1.weight.indices", p0, int(idx[p0 + 1])),
                   "c1.weight.indices", p0 + 1, int(idx[p0]))
    expect(swapped, "sorted within each row")


def test_negative_variance(fh, good):
    expect(poke(fh, good, "bn.var", 2, -0.5), "tensor 'bn.var'[2] = -0.5", "variance")
    expect(poke(fh, good, "bn.var", 0, float("nan")), "'bn.var'[0] = nan")


# ---- the document -------------------------------------------------------------------------

DOC_CASES = [
    # (id, mutation of the document, expected fragments)
    ("unknown op", lambda d: node(d, "c2").__setitem__("op", "gelu"),
     ["node 'c2': unknown op 'gelu'", "known ops: conv2d"]),
    ("op not str", lambda d: node(d, "c2").__setitem__("op", 3), ["'op' must be a string"]),
    ("unknown top field", lambda d: d.__setitem__("graph", []), ["unknown field 'graph'"]),
    ("no producer", lambda d: d.pop("producer"), ["'producer' must be an object"]),
    ("empty producer", lambda d: d.__setitem__("producer", {"name": ""}), ["producer.name"]),
    ("no inputs", lambda d: d.__setitem__("inputs", []), ["'inputs' is empty"]),
    ("nodes not list", lambda d: d.__setitem__("nodes", {}), ["'nodes' must be a list"]),
    ("input dtype", lambda d: d["inputs"][0].__setitem__("dtype", "f16"),
     ["graph input 'x': dtype must be \"f32\""]),
    ("input shape", lambda d: d["inputs"][0].__setitem__("shape", [None, 3, 0, 7]),
     ["graph input 'x': shape[2] must be an integer in [1,"]),
    ("input huge", lambda d: d["inputs"][0].__setitem__("shape", [None, 3, 2**31 - 1, 7]),
     ["elements per sample"]),
    ("input batch", lambda d: d["inputs"][0].__setitem__("shape", [0, 3, 9, 7]),
     ["shape[0] (the batch)"]),
    ("dup node", lambda d: node(d, "c2").__setitem__("name", "c1"), ["duplicate node name"]),
    ("reserved node", lambda d: node(d, "flat").__setitem__("name", "__flat"), ["reserved"]),
    ("unknown node field", lambda d: node(d, "flat").__setitem__("attr", {}),
     ["node 'flat' (flatten): unknown field 'attr'"]),
    ("forward ref", lambda d: node(d, "c2").__setitem__("inputs", ["h4"]),
     ["node 'c2' (conv2d): input 'h4' is neither a graph input nor the output of an earlier"]),
    ("dup value", lambda d: node(d, "c2").__setitem__("outputs", ["h1"]),
     ["output 'h1' is already defined"]),
    ("input shadowed", lambda d: node(d, "c2").__setitem__("outputs", ["x"]),
     ["output 'x' is already defined"]),
    ("two outputs", lambda d: node(d, "flat").__setitem__("outputs", ["a", "b"]),
     ["exactly 1 output"]),
    ("add arity", lambda d: node(d, "res").__setitem__("inputs", ["h3"]),
     ["takes 2 input(s), got 1"]),
    ("output missing", lambda d: d["outputs"][0].__setitem__("name", "nope"),
     ["graph output 'nope' is not produced"]),
    ("output shape", lambda d: d["outputs"][0].__setitem__("shape", [None, 11]),
     ["graph output 'y': declared shape [null, 11] but the graph computes [null, 10]"]),
    ("output batch", lambda d: d["outputs"][0].__setitem__("shape", [1, 10]),
     ["declared shape [1, 10]"]),
    ("in_features", lambda d: node(d, "fc")["attrs"].__setitem__("in_features", 15),
     ["node 'fc' (linear): input has 16 features but in_features=15"]),
    ("in_channels", lambda d: node(d, "c2")["attrs"].__setitem__("in_channels", 4),
     ["node 'c2' (conv2d): input has 8 channels but in_channels=4"]),
    ("weight shape", lambda d: node(d, "c1")["weight"].__setitem__("shape", [8, 28]),
     ["node 'c1' (conv2d): weight.shape must be [8, 27]"]),
    ("dense tensor shape", lambda d: node(d, "dw")["attrs"].__setitem__("kernel", [3, 1]),
     ["weight.shape must be [8, 3]"]),
    ("format", lambda d: node(d, "c1")["weight"].__setitem__("format", "coo"),
     ["weight.format must be one of dense, csr, bsr"]),
    ("blocksize", lambda d: node(d, "c2")["weight"].__setitem__("blocksize", [3, 8]),
     ["weight.blocksize [3, 8] does not divide the weight shape [8, 72]"]),
    ("blocksize on csr", lambda d: node(d, "c1")["weight"].__setitem__("blocksize", [1, 1]),
     ["only allowed with format \"bsr\""]),
    ("groups", lambda d: node(d, "dw")["attrs"].__setitem__("groups", 3),
     ["groups=3 must divide in_channels=8"]),
    ("kernel 0", lambda d: node(d, "c1")["attrs"].__setitem__("kernel", [0, 3]),
     ["attrs.kernel[0] must be an integer in [1,"]),
    ("stride bool", lambda d: node(d, "c1")["attrs"].__setitem__("stride", [True, 1]),
     ["attrs.stride[0]"]),
    ("stride scalar", lambda d: node(d, "c1")["attrs"].__setitem__("stride", 2),
     ["attrs.stride must be a list of 2 integers"]),
    ("padding 3", lambda d: node(d, "c1")["attrs"].__setitem__("padding", [1, 1, 1]),
     ["attrs.padding must be a list of 2 or 4 integers"]),
    ("kernel too big", lambda d: node(d, "c1")["attrs"].__setitem__("dilation", [6, 1]),
     ["does not fit the padded input"]),
    ("unknown attr", lambda d: node(d, "c1")["attrs"].__setitem__("stide", [1, 1]),
     ["unknown attribute(s) 'stide'"]),
    ("missing attr", lambda d: node(d, "c1")["attrs"].pop("in_channels"),
     ["node 'c1' (conv2d): missing required attribute 'in_channels'"]),
    ("activation", lambda d: node(d, "c1")["attrs"].__setitem__("activation", "gelu"),
     ["attrs.activation must be one of none, relu, relu6, hardswish, sigmoid; got 'gelu'"]),
    ("bias type", lambda d: node(d, "c1")["attrs"].__setitem__("bias", 1),
     ["attrs.bias must be true or false"]),
    ("weight on relu", lambda d: node(d, "flat").__setitem__("weight", {}), ["takes no weight"]),
    ("no weight", lambda d: node(d, "c1").pop("weight"), ["missing the 'weight' storage"]),
    ("add shapes", lambda d: node(d, "res").__setitem__("inputs", ["h3", "x"]),
     ["add does not broadcast"]),
    ("concat shapes", lambda d: node(d, "cat").__setitem__("inputs", ["h4", "x"]),
     ["differ outside axis 1"]),
    ("concat axis", lambda d: node(d, "cat").__setitem__("attrs", {"axis": 2}),
     ["attrs.axis must be an integer in [1, 1]"]),
    ("pool padding", lambda d: node(d, "pool")["attrs"].__setitem__("padding", [2, 1]),
     ["exceeds half the kernel"]),
    ("bn channels", lambda d: node(d, "bn")["attrs"].__setitem__("channels", 7),
     ["must have channels=7 in dimension 1"]),
    ("bn eps", lambda d: node(d, "bn")["attrs"].__setitem__("eps", -1),
     ["attrs.eps must be a finite number >= 0"]),
    ("flatten attrs", lambda d: node(d, "flat").__setitem__("attrs", {"start_dim": 1}),
     ["unknown attribute(s) 'start_dim'"]),
]


@pytest.mark.parametrize("mutate, fragments", [c[1:] for c in DOC_CASES],
                         ids=[c[0] for c in DOC_CASES])
def test_document_problems(fh, cnn, mutate, fragments):
    d, t, _ = cnn
    d = copy.deepcopy(d)
    mutate(d)
    expect(fh.build_file(d, t), *fragments)


def test_missing_unused_and_wrong_tensors(fh, cnn):
    d, t, _ = cnn
    expect(fh.build_file(d, {k: v for k, v in t.items() if k != "c1.bias"}),
           "node 'c1' (conv2d): missing tensor 'c1.bias'")
    expect(fh.build_file(d, {**t, "extra.w": np.zeros(3, np.float32)}),
           "tensor 'extra.w' is not used by any node")
    expect(fh.build_file(d, {**t, "dw.weight": t["dw.weight"].reshape(8, 9)}),
           "tensor 'dw.weight' has shape [8, 9], expected [8, 1, 3, 3]")
    t2 = dict(t)
    t2["c1.weight.indices"] = t["c1.weight.indices"].astype(np.uint8)
    expect(fh.build_file(d, t2), "has dtype U8, expected I32 or U16")


def test_more_graph_rules(fh):
    io, doc = fh.io, fh.doc

    def one(op, attrs, in_shape, out_shape, **kw):
        nd = {"name": "n", "op": op, "inputs": ["x"], "outputs": ["y"], "attrs": attrs, **kw}
        return fh.build_file(doc([io("x", in_shape)], [io("y", out_shape)], [nd]), {})
    expect(one("reshape", {"shape": [7, -1]}, [None, 3, 4], [None, 7, 2]), "cannot reshape")
    expect(one("reshape", {"shape": [-1, -1]}, [None, 3, 4], [None, 12]),
           "more than one -1")
    expect(one("softmax", {"axis": 0}, [None, 3], [None, 3]), "the batch axis 0")
    expect(one("softmax", {"axis": -3}, [None, 3], [None, 3]), "out of range")
    expect(one("global_avg_pool", {}, [None, 3], [None, 3, 1, 1]), "must be 4-D")
    expect(one("max_pool2d", {"kernel": [3, 3]}, [None, 1, 2, 2], [None, 1, 1, 1]),
           "does not fit")
    nd = {"name": "n", "op": "batch_norm", "inputs": ["x"], "outputs": ["y"],
          "attrs": {"channels": 3, "form": "scale_shift", "eps": 1e-5}}
    ss = {"n.scale": np.ones(3, np.float32), "n.shift": np.zeros(3, np.float32)}
    expect(fh.build_file(doc([io("x", [None, 3])], [io("y", [None, 3])], [nd]), ss),
           "unknown attribute(s) 'eps'")
    two = doc([io("a", [None, 3]), io("b", [2, 3])], [io("a", [None, 3])], [])
    expect(fh.build_file(two, {}), "graph inputs disagree on the batch dimension")
    dup = doc([io("a", [None, 3]), io("a", [None, 3])], [io("a", [None, 3])], [])
    expect(fh.build_file(dup, {}), "graph input 'a' is declared twice")
    # a block row must not straddle two groups of a grouped conv
    w = {"n.weight.data": np.zeros((0, 2, 1), np.float32),
         "n.weight.indices": np.zeros(0, np.int32), "n.weight.indptr": np.zeros(3, np.int32)}
    nd = {"name": "n", "op": "conv2d", "inputs": ["x"], "outputs": ["y"],
          "attrs": {"in_channels": 4, "out_channels": 4, "kernel": [1, 1], "groups": 4},
          "weight": {"format": "bsr", "shape": [4, 1], "blocksize": [2, 1]}}
    raw = fh.build_file(doc([io("x", [None, 4, 2, 2])], [io("y", [None, 4, 2, 2])], [nd]), w)
    expect(raw, "must divide out_channels/groups = 1")


# ---- random corruption --------------------------------------------------------------------

def test_random_corruption_never_crashes(fh, good):
    """Single-byte corruptions anywhere either load or raise ModelFormatError, nothing else."""
    rng = np.random.default_rng(1234)
    n = struct.unpack("<Q", good[:8])[0]
    positions = np.concatenate([rng.integers(0, 8 + n, 600), rng.integers(8 + n, len(good), 300)])
    outcomes = {"ok": 0, "error": 0}
    for pos in positions:
        b = bytearray(good)
        b[pos] = (b[pos] + int(rng.integers(1, 256))) % 256
        try:
            parse_model(bytes(b))
            outcomes["ok"] += 1
        except ModelFormatError as e:
            assert str(e)
            outcomes["error"] += 1
    assert outcomes["error"] > 300 and outcomes["ok"] > 0
