"""sparse_rt model files (``.sprt``): a numpy-only writer, reader and validator.

The format is specified in ``docs/format.md``; this module is its reference implementation
and follows the section numbers given there.  In short: a safetensors file whose
``__metadata__["sparse_rt"]`` holds a JSON document describing the graph, with every array of
the model stored as a tensor of the file, each 64-byte aligned.

A file is untrusted input.  :func:`read_model` checks every rule of the spec before it returns,
and raises :class:`ModelFormatError` (a ``ValueError``) naming the tensor or node at fault and
what is wrong.  Nothing is allocated from a size read in the file before that size has been
checked against the bytes actually present.

Public API::

    write_model(path, graph_doc, tensors)           # validates, then writes atomically
    read_model(path, *, mmap=True) -> ModelFile      # validates everything
    parse_model(data) -> ModelFile                   # same, from bytes in memory
    validate_model(graph_doc, tensors) -> ModelFile  # same checks, on in-memory objects
    encode_weight(node_name, weight, fmt, ...) -> dict[str, ndarray]
    ModelFile.dense_weight(node_name) -> ndarray     # any storage back to the dense matrix
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "ALIGNMENT",
    "FILE_EXTENSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "ModelFile",
    "ModelFormatError",
    "NodeSpec",
    "OPS",
    "STORAGE_FORMATS",
    "encode_weight",
    "parse_model",
    "read_model",
    "validate_model",
    "write_model",
]

FORMAT_NAME = "sparse_rt"
FORMAT_VERSION = 1  # the newest version this module reads and the one it writes
FILE_EXTENSION = ".sprt"
METADATA_KEY = "sparse_rt"  # key of the document inside the safetensors __metadata__
ALIGNMENT = 64  # data buffer start and every tensor's data start, in bytes

MAX_HEADER_BYTES = 100_000_000  # same cap as the safetensors reference implementation
MAX_JSON_DEPTH = 64
MAX_RANK = 8
MAX_DIM = 2**31 - 1  # every static dimension, integer attribute and per-sample element count
PAD_PREFIX = "__pad_"
RESERVED_PREFIX = "__"

ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "sigmoid")
STORAGE_FORMATS = ("dense", "csr", "bsr")
OPS = (
    "conv2d", "linear", "batch_norm", "relu", "relu6", "hardswish", "sigmoid", "add",
    "concat", "max_pool2d", "avg_pool2d", "global_avg_pool", "flatten", "reshape",
    "softmax", "identity",
)
_WEIGHTED_OPS = ("conv2d", "linear")

# safetensors dtype name -> numpy dtype, for the dtypes a sparse_rt file may hold (§2.3).
_DTYPES = {
    "F32": np.dtype("<f4"),
    "I32": np.dtype("<i4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
}
_SAFETENSORS_DTYPES = {  # known to safetensors but not allowed here: named in the error
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "I16",
    "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64", "C64",
}
_TOP_KEYS = {"format", "format_version", "producer", "inputs", "outputs", "nodes", "metadata"}
_NODE_KEYS = {"name", "op", "inputs", "outputs", "attrs", "weight", "layer_info"}
_IO_KEYS = {"name", "shape", "dtype"}
_TENSOR_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


class ModelFormatError(ValueError):
    """A model file (or a graph about to be written) breaks a rule of docs/format.md."""


def _fail(msg: str) -> None:
    raise ModelFormatError(msg)


# --------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------

def _no_duplicate_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _json_depth_ok(value: Any) -> bool:
    """Objects and lists nest at most MAX_JSON_DEPTH deep (the outermost is level 1; scalars
    add no level, docs/format.md §2.1)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if not isinstance(v, (dict, list)):
            continue
        if d > MAX_JSON_DEPTH:
            return False
        stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def _loads(text: str, what: str) -> Any:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                           parse_constant=_reject_constant)
    except RecursionError:
        _fail(f"{what} is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError as e:  # JSONDecodeError, duplicate keys, NaN/Infinity, huge integers
        _fail(f"{what} is not valid JSON: {e}")
    if not _json_depth_ok(value):
        _fail(f"{what} is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _json_default(o):
    # numpy scalars and arrays that found their way into a document being written
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _fmt_shape(shape) -> str:
    return "[" + ", ".join("null" if d is None else str(d) for d in shape) + "]"


# --------------------------------------------------------------------------------------------
# The graph (§3-§6): document + arrays -> validated ModelFile
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeSpec:
    """A validated node with every optional attribute filled in with its default.

    ``params`` maps a role (``weight``, ``data``, ``indices``, ``indptr``, ``bias``, ``mean``,
    ``var``, ``gamma``, ``beta``, ``scale``, ``shift``) to the tensor name holding it.
    """

    name: str
    op: str
    inputs: tuple
    outputs: tuple
    attrs: dict
    weight: dict | None
    params: dict
    output_shape: tuple  # (batch, d1, ...): batch is None when free


@dataclass
class ModelFile:
    """A validated model: ``meta`` is the document as stored, ``tensors`` its arrays.

    ``tensors`` holds read-only numpy arrays (views into the file's memory map when read with
    ``mmap=True``), without the padding tensors.  ``nodes`` are the validated nodes with their
    attributes' defaults filled in; ``shapes`` maps every value name to its inferred shape
    (``None`` for a free batch dimension).
    """

    meta: dict
    tensors: dict
    nodes: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def inputs(self) -> list:
        return [(io["name"], self.shapes[io["name"]]) for io in self.meta["inputs"]]

    @property
    def outputs(self) -> list:
        return [(io["name"], self.shapes[io["name"]]) for io in self.meta["outputs"]]

    @property
    def version(self) -> int:
        return self.meta["format_version"]

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def dense_weight(self, node_name: str) -> np.ndarray:
        """The 2-D float32 weight matrix (M, K) of a conv2d/linear node, whatever its storage."""
        n = self.node(node_name)
        if n.weight is None:
            raise KeyError(f"node {node_name!r} ({n.op}) has no weight")
        t = {role: self.tensors[name] for role, name in n.params.items()}
        return _decode_weight(n.weight, t)

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}{_fmt_shape(s)}" for k, s in self.inputs)
        outs = ", ".join(f"{k}{_fmt_shape(s)}" for k, s in self.outputs)
        return (f"ModelFile({self.path or '<memory>'}, v{self.version}, {len(self.nodes)} nodes,"
                f" inputs {ins}, outputs {outs})")


class _AttrReader:
    """Reads one node's attrs, checking type and range; unknown keys are an error."""

    _REQUIRED = object()

    def __init__(self, ctx: str, attrs: dict):
        self.ctx, self.attrs, self.out = ctx, attrs, {}

    def _get(self, key, default):
        if key in self.attrs:
            return self.attrs[key], True
        if default is self._REQUIRED:
            _fail(f"{self.ctx}: missing required attribute '{key}'")
        return default, False

    def int(self, key, default=_REQUIRED, lo=1, hi=MAX_DIM):
        v, given = self._get(key, default)
        if given and not (_is_int(v) and lo <= v <= hi):
            _fail(f"{self.ctx}: attrs.{key} must be an integer in [{lo}, {hi}], got {v!r}")
        self.out[key] = v
        return v

    def ints(self, key, lengths, default=_REQUIRED, lo=1, hi=MAX_DIM):
        v, given = self._get(key, default)
        if given:
            if not (isinstance(v, list) and len(v) in lengths):
                want = (f"{lengths[0]} to {lengths[-1]}" if isinstance(lengths, range)
                        else " or ".join(str(n) for n in lengths))
                _fail(f"{self.ctx}: attrs.{key} must be a list of {want} integers, got {v!r}")
            for i, x in enumerate(v):
                if not (_is_int(x) and lo <= x <= hi):
                    _fail(f"{self.ctx}: attrs.{key}[{i}] must be an integer in [{lo}, {hi}],"
                          f" got {x!r}")
            v = list(v)
        self.out[key] = v
        return v

    def bool(self, key, default=_REQUIRED):
        v, given = self._get(key, default)
        if given and not isinstance(v, bool):
            _fail(f"{self.ctx}: attrs.{key} must be true or false, got {v!r}")
        self.out[key] = v
        return v

    def enum(self, key, choices, default=_REQUIRED):
        v, given = self._get(key, default)
        if given and not (isinstance(v, str) and v in choices):
            _fail(f"{self.ctx}: attrs.{key} must be one of {', '.join(choices)}; got {v!r}")
        self.out[key] = v
        return v

    def number(self, key, default=_REQUIRED, lo=0.0):
        v, given = self._get(key, default)
        if given and not (_is_number(v) and v >= lo):
            _fail(f"{self.ctx}: attrs.{key} must be a finite number >= {lo}, got {v!r}")
        self.out[key] = float(v)
        return float(v)

    def finish(self) -> dict:
        unknown = sorted(set(self.attrs) - set(self.out))
        if unknown:
            _fail(f"{self.ctx}: unknown attribute(s) {', '.join(map(repr, unknown))}"
                  f" (known: {', '.join(sorted(self.out)) or 'none'})")
        return self.out


def _read_padding(a: _AttrReader) -> list:
    """attrs.padding as [top, left, bottom, right] (a 2-list [ph, pw] is symmetric)."""
    p = a.ints("padding", (2, 4), default=[0, 0, 0, 0], lo=0)
    if len(p) == 2:
        p = [p[0], p[1], p[0], p[1]]
    a.out["padding"] = p
    return p


def _pool_out(size, k, s, p0, p1, d, ceil_mode) -> int:
    """Output length of a window sweep (docs/format.md §5.2); may be <= 0 for bad inputs."""
    span = size + p0 + p1 - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1  # floor division, as torch
    # ceil mode: the last window must start inside the input or the leading padding
    if ceil_mode and out >= 1 and (out - 1) * s >= size + p0:
        out -= 1
    return out


class _Validator:
    def __init__(self, doc: dict, tensors: Mapping[str, np.ndarray]):
        self.doc = doc
        self.tensors = tensors
        self.claimed: dict[str, str] = {}  # tensor name -> node that uses it
        self.shapes: dict[str, tuple] = {}
        self.node_name = ""  # the node being checked
        self.weight_desc = None  # its normalised weight descriptor, set by conv2d/linear

    # -- tensors ---------------------------------------------------------------------------
    def tensor(self, ctx, name, dtypes, shape) -> np.ndarray:
        if name in self.claimed:
            _fail(f"{ctx}: tensor '{name}' is already used by node '{self.claimed[name]}'")
        if name not in self.tensors:
            _fail(f"{ctx}: missing tensor '{name}'")
        arr = self.tensors[name]
        code = _dtype_code(arr.dtype)
        if code not in dtypes:
            _fail(f"{ctx}: tensor '{name}' has dtype {code or arr.dtype}, expected"
                  f" {' or '.join(dtypes)}")
        if shape is not None and tuple(arr.shape) != tuple(shape):
            _fail(f"{ctx}: tensor '{name}' has shape {list(arr.shape)}, expected {list(shape)}")
        self.claimed[name] = self.node_name
        return arr

    # -- shapes ----------------------------------------------------------------------------
    def _io_shape(self, ctx, shape) -> tuple:
        if not (isinstance(shape, list) and 1 <= len(shape) <= MAX_RANK):
            _fail(f"{ctx}: shape must be a list of 1 to {MAX_RANK} dimensions, got {shape!r}")
        b = shape[0]
        if b is None or (_is_int(b) and b == -1):
            b = None
        elif not (_is_int(b) and 1 <= b <= MAX_DIM):
            _fail(f"{ctx}: shape[0] (the batch) must be null, -1 or an integer in [1, {MAX_DIM}],"
                  f" got {b!r}")
        for i, d in enumerate(shape[1:], 1):
            if not (_is_int(d) and 1 <= d <= MAX_DIM):
                _fail(f"{ctx}: shape[{i}] must be an integer in [1, {MAX_DIM}], got {d!r}")
        out = (b,) + tuple(shape[1:])
        self._check_numel(ctx, out)
        return out

    @staticmethod
    def _check_numel(ctx, shape):
        n = 1
        for d in shape[1:]:
            n *= d
        if n > MAX_DIM:
            _fail(f"{ctx}: shape {_fmt_shape(shape)} has {n} elements per sample, more than the"
                  f" limit {MAX_DIM}")

    # -- document --------------------------------------------------------------------------
    def run(self) -> ModelFile:
        doc = self.doc
        _check_head(doc)
        for k in doc:
            if k not in _TOP_KEYS:
                _fail(f"document: unknown field '{k}' (known: {', '.join(sorted(_TOP_KEYS))})")
        prod = doc.get("producer")
        if not isinstance(prod, dict):
            _fail(f"document: 'producer' must be an object, got {prod!r}")
        if not (isinstance(prod.get("name"), str) and prod["name"]):
            _fail("document: producer.name must be a non-empty string")
        if "version" in prod and not isinstance(prod["version"], str):
            _fail(f"document: producer.version must be a string, got {prod['version']!r}")
        if "metadata" in doc and not isinstance(doc["metadata"], dict):
            _fail("document: 'metadata' must be an object")

        for key in ("inputs", "outputs", "nodes"):
            if not isinstance(doc.get(key), list):
                _fail(f"document: '{key}' must be a list, got {doc.get(key)!r}")
        if not doc["inputs"]:
            _fail("document: 'inputs' is empty")
        if not doc["outputs"]:
            _fail("document: 'outputs' is empty")

        batches = set()
        for i, io in enumerate(doc["inputs"]):
            name = self._io_entry("input", i, io)
            if name in self.shapes:
                _fail(f"graph input '{name}' is declared twice")
            self.shapes[name] = self._io_shape(f"graph input '{name}'", io["shape"])
            batches.add(self.shapes[name][0])
        if len(batches) > 1:
            _fail("graph inputs disagree on the batch dimension (shape[0]):"
                  f" {', '.join(_fmt_shape(self.shapes[io['name']]) for io in doc['inputs'])}")

        nodes, node_names = [], set()
        for i, nd in enumerate(doc["nodes"]):
            spec = self._node(i, nd, node_names)
            nodes.append(spec)

        seen_out = set()
        for i, io in enumerate(doc["outputs"]):
            name = self._io_entry("output", i, io)
            ctx = f"graph output '{name}'"
            if name in seen_out:
                _fail(f"{ctx} is declared twice")
            seen_out.add(name)
            if name not in self.shapes:
                _fail(f"{ctx} is not produced by any node nor a graph input")
            declared = self._io_shape(ctx, io["shape"])
            if declared != self.shapes[name]:
                _fail(f"{ctx}: declared shape {_fmt_shape(declared)} but the graph computes"
                      f" {_fmt_shape(self.shapes[name])}")

        unused = [t for t in self.tensors if t not in self.claimed]
        if unused:
            _fail(f"tensor '{unused[0]}' is not used by any node"
                  + (f" (and {len(unused) - 1} more)" if len(unused) > 1 else ""))
        return ModelFile(meta=doc, tensors=dict(self.tensors), nodes=nodes,
                         shapes=dict(self.shapes))

    def _io_entry(self, kind, i, io) -> str:
        where = f"document: {kind}s[{i}]"
        if not isinstance(io, dict):
            _fail(f"{where} must be an object, got {io!r}")
        for k in io:
            if k not in _IO_KEYS:
                _fail(f"{where}: unknown field '{k}'")
        name = io.get("name")
        if not (isinstance(name, str) and name):
            _fail(f"{where}: 'name' must be a non-empty string, got {name!r}")
        if "shape" not in io:
            _fail(f"graph {kind} '{name}': missing 'shape'")
        if io.get("dtype") != "f32":
            _fail(f"graph {kind} '{name}': dtype must be \"f32\", got {io.get('dtype')!r}")
        return name

    def _node(self, i, nd, node_names) -> NodeSpec:
        if not isinstance(nd, dict):
            _fail(f"nodes[{i}] must be an object, got {type(nd).__name__}")
        name = nd.get("name")
        if not (isinstance(name, str) and name):
            _fail(f"nodes[{i}]: 'name' must be a non-empty string, got {name!r}")
        if name.startswith(RESERVED_PREFIX):
            _fail(f"node '{name}': names starting with '{RESERVED_PREFIX}' are reserved")
        if name in node_names:
            _fail(f"node '{name}': duplicate node name")
        node_names.add(name)
        op = nd.get("op")
        if not isinstance(op, str):
            _fail(f"node '{name}': 'op' must be a string, got {op!r}")
        if op not in OPS:
            _fail(f"node '{name}': unknown op '{op}' (known ops: {', '.join(OPS)})")
        ctx = f"node '{name}' ({op})"
        for k in nd:
            if k not in _NODE_KEYS:
                _fail(f"{ctx}: unknown field '{k}' (known: {', '.join(sorted(_NODE_KEYS))})")
        if "layer_info" in nd and not isinstance(nd["layer_info"], dict):
            _fail(f"{ctx}: 'layer_info' must be an object")
        attrs = nd.get("attrs", {})
        if not isinstance(attrs, dict):
            _fail(f"{ctx}: 'attrs' must be an object, got {attrs!r}")

        ins, outs = nd.get("inputs"), nd.get("outputs")
        for key, v in (("inputs", ins), ("outputs", outs)):
            if not (isinstance(v, list) and all(isinstance(s, str) and s for s in v)):
                _fail(f"{ctx}: '{key}' must be a list of non-empty strings, got {v!r}")
        n_in = {"add": (2, 2), "concat": (1, None)}.get(op, (1, 1))
        if len(ins) < n_in[0] or (n_in[1] is not None and len(ins) > n_in[1]):
            want = f"{n_in[0]}" if n_in[0] == n_in[1] else f"at least {n_in[0]}"
            _fail(f"{ctx}: takes {want} input(s), got {len(ins)}")
        if len(outs) != 1:
            _fail(f"{ctx}: must have exactly 1 output, got {len(outs)}")
        in_shapes = []
        for s in ins:
            if s not in self.shapes:
                _fail(f"{ctx}: input '{s}' is neither a graph input nor the output of an earlier"
                      " node")
            in_shapes.append(self.shapes[s])
        if outs[0] in self.shapes:
            _fail(f"{ctx}: output '{outs[0]}' is already defined (value names must be unique)")

        if op in _WEIGHTED_OPS:
            if "weight" not in nd:
                _fail(f"{ctx}: missing the 'weight' storage descriptor")
        elif "weight" in nd:
            _fail(f"{ctx}: has a 'weight' descriptor but {op} takes no weight")

        a = _AttrReader(ctx, attrs)
        params: dict[str, str] = {}
        self.node_name, self.weight_desc = name, None
        out_shape = getattr(self, "_op_" + op)(ctx, name, nd, a, in_shapes, params)
        weight = self.weight_desc
        norm = a.finish()
        if len(out_shape) > MAX_RANK:
            _fail(f"{ctx}: output rank {len(out_shape)} exceeds {MAX_RANK}")
        self._check_numel(ctx, out_shape)
        self.shapes[outs[0]] = out_shape
        return NodeSpec(name=name, op=op, inputs=tuple(ins), outputs=tuple(outs), attrs=norm,
                        weight=weight, params=params, output_shape=out_shape)

    # -- weights (§4) ----------------------------------------------------------------------
    def _weight(self, ctx, name, nd, M, K, dense_shape, params, groups_rows=None) -> dict:
        w = nd["weight"]
        if not isinstance(w, dict):
            _fail(f"{ctx}: 'weight' must be an object, got {w!r}")
        for k in w:
            if k not in ("format", "shape", "blocksize"):
                _fail(f"{ctx}: weight: unknown field '{k}'")
        fmt = w.get("format")
        if not (isinstance(fmt, str) and fmt in STORAGE_FORMATS):
            _fail(f"{ctx}: weight.format must be one of {', '.join(STORAGE_FORMATS)},"
                  f" got {fmt!r}")
        shape = w.get("shape")
        if shape != [M, K] or not all(_is_int(x) for x in shape):
            _fail(f"{ctx}: weight.shape must be [{M}, {K}] for these attributes, got {shape!r}")
        out = {"format": fmt, "shape": [M, K]}
        if fmt == "bsr":
            bs = w.get("blocksize")
            if not (isinstance(bs, list) and len(bs) == 2
                    and all(_is_int(x) and 1 <= x <= MAX_DIM for x in bs)):
                _fail(f"{ctx}: weight.blocksize must be [r, c] with positive integers, got {bs!r}")
            r, c = bs
            if M % r or K % c:
                _fail(f"{ctx}: weight.blocksize {bs} does not divide the weight shape [{M}, {K}]")
            if groups_rows is not None and groups_rows % r:
                _fail(f"{ctx}: weight.blocksize {bs}: r={r} must divide out_channels/groups ="
                      f" {groups_rows} (a block must not span two groups)")
            out["blocksize"] = [r, c]
        elif "blocksize" in w:
            _fail(f"{ctx}: weight.blocksize is only allowed with format \"bsr\"")

        if fmt == "dense":
            params["weight"] = f"{name}.weight"
            self.tensor(ctx, params["weight"], ("F32",), dense_shape)
            return out
        base = f"{name}.weight"
        params.update(data=f"{base}.data", indices=f"{base}.indices", indptr=f"{base}.indptr")
        # shapes first, from the index arrays, so nothing is sized from an unchecked number
        indices = self.tensor(ctx, params["indices"], ("I32", "U16"), None)
        if indices.ndim != 1:
            _fail(f"{ctx}: tensor '{params['indices']}' must be 1-D, has shape"
                  f" {list(indices.shape)}")
        nnz = indices.shape[0]
        if fmt == "csr":
            rows, cols, data_shape, unit = M, K, (nnz,), "non-zeros"
        else:
            rows, cols, data_shape, unit = M // r, K // c, (nnz, r, c), "blocks"
        indptr = self.tensor(ctx, params["indptr"], ("I32",), (rows + 1,))
        self.tensor(ctx, params["data"], ("F32",), data_shape)
        _check_compressed(ctx, params["indptr"], params["indices"], indptr, indices, rows, cols,
                          unit)
        return out

    def _bias(self, ctx, name, a, n, params):
        if a.bool("bias", default=False):
            params["bias"] = f"{name}.bias"
            self.tensor(ctx, params["bias"], ("F32",), (n,))

    # -- ops (§5) --------------------------------------------------------------------------
    def _op_conv2d(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        cin = a.int("in_channels")
        cout = a.int("out_channels")
        kh, kw = a.ints("kernel", (2,))
        sh, sw = a.ints("stride", (2,), default=[1, 1])
        pt, pl, pb, pr = _read_padding(a)
        dh, dw = a.ints("dilation", (2,), default=[1, 1])
        g = a.int("groups", default=1)
        self._bias(ctx, name, a, cout, params)
        a.enum("activation", ACTIVATIONS, default="none")
        if cin % g or cout % g:
            _fail(f"{ctx}: groups={g} must divide in_channels={cin} and out_channels={cout}")
        if len(x) != 4:
            _fail(f"{ctx}: input must be 4-D (N, C, H, W), got {_fmt_shape(x)}")
        if x[1] != cin:
            _fail(f"{ctx}: input has {x[1]} channels but in_channels={cin}")
        ho = _pool_out(x[2], kh, sh, pt, pb, dh, False)
        wo = _pool_out(x[3], kw, sw, pl, pr, dw, False)
        if ho < 1 or wo < 1:
            _fail(f"{ctx}: the dilated kernel [{kh}, {kw}] does not fit the padded input"
                  f" {_fmt_shape(x)} (output would be {ho}x{wo})")
        K = (cin // g) * kh * kw
        if K > MAX_DIM:
            _fail(f"{ctx}: weight has {K} columns, more than {MAX_DIM}")
        self.weight_desc = self._weight(ctx, name, nd, cout, K, (cout, cin // g, kh, kw), params,
                                        groups_rows=cout // g)
        return (x[0], cout, ho, wo)

    def _op_linear(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        k = a.int("in_features")
        m = a.int("out_features")
        self._bias(ctx, name, a, m, params)
        a.enum("activation", ACTIVATIONS, default="none")
        if len(x) != 2:
            _fail(f"{ctx}: input must be 2-D (N, features), got {_fmt_shape(x)}")
        if x[1] != k:
            _fail(f"{ctx}: input has {x[1]} features but in_features={k}")
        self.weight_desc = self._weight(ctx, name, nd, m, k, (m, k), params)
        return (x[0], m)

    def _op_batch_norm(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        c = a.int("channels")
        form = a.enum("form", ("stats", "scale_shift"), default="stats")
        if len(x) < 2 or x[1] != c:
            _fail(f"{ctx}: input {_fmt_shape(x)} must have channels={c} in dimension 1")
        if form == "stats":
            eps = a.number("eps", default=1e-5)
            for role in ("mean", "var", "gamma", "beta"):
                params[role] = f"{name}.{role}"
                arr = self.tensor(ctx, params[role], ("F32",), (c,))
                if role == "var":
                    v = np.asarray(arr, dtype=np.float64)
                    bad = ~((v >= 0) & (v + eps > 0))
                    if bad.any():
                        j = int(np.argmax(bad))
                        _fail(f"{ctx}: tensor '{params[role]}'[{j}] = {float(v[j])}: the variance"
                              " must be >= 0 and var + eps > 0")
        else:
            for role in ("scale", "shift"):
                params[role] = f"{name}.{role}"
                self.tensor(ctx, params[role], ("F32",), (c,))
        return x

    def _elementwise(self, ctx, name, nd, a, ins, params):
        return ins[0]

    _op_relu = _op_relu6 = _op_hardswish = _op_sigmoid = _op_identity = _elementwise

    def _op_add(self, ctx, name, nd, a, ins, params):
        a.enum("activation", ACTIVATIONS, default="none")
        if ins[0] != ins[1]:
            _fail(f"{ctx}: inputs have different shapes {_fmt_shape(ins[0])} and"
                  f" {_fmt_shape(ins[1])} (add does not broadcast)")
        return ins[0]

    def _op_concat(self, ctx, name, nd, a, ins, params):
        a.int("axis", default=1, lo=1, hi=1)
        first = ins[0]
        if len(first) < 2:
            _fail(f"{ctx}: inputs must have at least 2 dimensions, got {_fmt_shape(first)}")
        for s in ins[1:]:
            if len(s) != len(first) or s[2:] != first[2:]:
                _fail(f"{ctx}: input shapes {_fmt_shape(first)} and {_fmt_shape(s)} differ"
                      " outside axis 1")
        return (first[0], sum(s[1] for s in ins)) + first[2:]

    def _pool(self, ctx, a, ins, is_max):
        (x,) = ins
        kh, kw = a.ints("kernel", (2,))
        sh, sw = a.ints("stride", (2,), default=[kh, kw])
        pt, pl, pb, pr = _read_padding(a)
        dh, dw = a.ints("dilation", (2,), default=[1, 1]) if is_max else (1, 1)
        ceil_mode = a.bool("ceil_mode", default=False)
        if not is_max:
            a.bool("count_include_pad", default=True)
        if max(pt, pb) > kh // 2 or max(pl, pr) > kw // 2:
            _fail(f"{ctx}: padding {[pt, pl, pb, pr]} exceeds half the kernel [{kh}, {kw}]")
        if len(x) != 4:
            _fail(f"{ctx}: input must be 4-D (N, C, H, W), got {_fmt_shape(x)}")
        ho = _pool_out(x[2], kh, sh, pt, pb, dh, ceil_mode)
        wo = _pool_out(x[3], kw, sw, pl, pr, dw, ceil_mode)
        if ho < 1 or wo < 1:
            _fail(f"{ctx}: the window [{kh}, {kw}] does not fit the padded input {_fmt_shape(x)}"
                  f" (output would be {ho}x{wo})")
        return (x[0], x[1], ho, wo)

    def _op_max_pool2d(self, ctx, name, nd, a, ins, params):
        return self._pool(ctx, a, ins, True)

    def _op_avg_pool2d(self, ctx, name, nd, a, ins, params):
        return self._pool(ctx, a, ins, False)

    def _op_global_avg_pool(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        if len(x) != 4:
            _fail(f"{ctx}: input must be 4-D (N, C, H, W), got {_fmt_shape(x)}")
        return (x[0], x[1], 1, 1)

    def _op_flatten(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        if len(x) < 2:
            _fail(f"{ctx}: input must have at least 2 dimensions, got {_fmt_shape(x)}")
        return (x[0], math.prod(x[1:]))

    def _op_reshape(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        shape = a.ints("shape", range(1, MAX_RANK), lo=-1)
        if 0 in shape:
            _fail(f"{ctx}: attrs.shape {shape} contains 0")
        n = math.prod(x[1:])
        if shape.count(-1) > 1:
            _fail(f"{ctx}: attrs.shape {shape} has more than one -1")
        known = math.prod(d for d in shape if d != -1)
        if -1 in shape:
            if n % known:
                _fail(f"{ctx}: cannot reshape {_fmt_shape(x)} to [batch] + {shape}")
            shape = [n // known if d == -1 else d for d in shape]
        elif known != n:
            _fail(f"{ctx}: cannot reshape {_fmt_shape(x)} ({n} elements per sample) to"
                  f" [batch] + {shape} ({known})")
        return (x[0],) + tuple(shape)

    def _op_softmax(self, ctx, name, nd, a, ins, params):
        (x,) = ins
        axis = a.int("axis", default=-1, lo=-MAX_RANK, hi=MAX_RANK - 1)
        r = len(x)
        ax = axis + r if axis < 0 else axis
        if not 1 <= ax < r:
            _fail(f"{ctx}: axis {axis} is out of range for input {_fmt_shape(x)}"
                  " (the batch axis 0 is not allowed)")
        a.out["axis"] = ax
        return x


def _check_compressed(ctx, indptr_name, indices_name, indptr, indices, rows, cols, unit):
    """CSR/BSR invariants (§4.3), vectorised."""
    ip = np.asarray(indptr).astype(np.int64)
    nnz = int(indices.shape[0])
    if ip[0] != 0:
        _fail(f"{ctx}: tensor '{indptr_name}'[0] must be 0, got {ip[0]}")
    d = np.diff(ip)
    if d.size and (d < 0).any():
        i = int(np.argmax(d < 0))
        _fail(f"{ctx}: tensor '{indptr_name}' decreases at row {i}: indptr[{i}] = {ip[i]} >"
              f" indptr[{i + 1}] = {ip[i + 1]}")
    if ip[-1] != nnz:
        _fail(f"{ctx}: tensor '{indptr_name}'[-1] = {ip[-1]} but '{indices_name}' holds {nnz}"
              f" {unit}")
    if nnz == 0:
        return
    idx = np.asarray(indices).astype(np.int64)
    bad = (idx < 0) | (idx >= cols)
    if bad.any():
        p = int(np.argmax(bad))
        row = int(np.searchsorted(ip, p, side="right") - 1)
        col = "block column" if unit == "blocks" else "column"
        _fail(f"{ctx}: tensor '{indices_name}'[{p}] = {idx[p]} (row {row}) is out of range: the"
              f" {col} must be in [0, {cols})")
    if nnz > 1:
        row_start = np.zeros(nnz, dtype=bool)
        row_start[ip[:-1][d > 0]] = True
        ok = (np.diff(idx) > 0) | row_start[1:]
        if not ok.all():
            p = int(np.argmax(~ok)) + 1
            row = int(np.searchsorted(ip, p, side="right") - 1)
            _fail(f"{ctx}: tensor '{indices_name}': row {row} is not strictly increasing"
                  f" (indices[{p - 1}] = {idx[p - 1]}, indices[{p}] = {idx[p]}); indices must be"
                  " sorted within each row, without duplicates")


def _check_head(doc) -> None:
    """Format name and version: checked first, before anything version-specific (§3.1)."""
    if not isinstance(doc, dict):
        _fail(f"document: must be a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT_NAME:
        _fail(f"document: 'format' must be {FORMAT_NAME!r}, got {doc.get('format')!r}:"
              " not a sparse_rt model")
    v = doc.get("format_version")
    if not (_is_int(v) and v >= 1):
        _fail(f"document: 'format_version' must be a positive integer, got {v!r}")
    if v > FORMAT_VERSION:
        _fail(f"document: format_version {v} is newer than this reader supports (up to"
              f" {FORMAT_VERSION}); upgrade sparse_rt to read this file")


def _dtype_code(dt: np.dtype) -> str | None:
    dt = np.dtype(dt)
    for code, ref in _DTYPES.items():
        if dt.kind == ref.kind and dt.itemsize == ref.itemsize:
            return code
    return None


def validate_model(graph_doc: dict, tensors: Mapping[str, np.ndarray]) -> ModelFile:
    """Check a document and its arrays against every rule of the spec (the container aside).

    Returns a :class:`ModelFile` (``path`` None) or raises :class:`ModelFormatError`.
    """
    arrays = {}
    for name, arr in tensors.items():
        if not isinstance(name, str) or not name:
            _fail(f"tensor name {name!r} must be a non-empty string")
        if name.startswith(RESERVED_PREFIX):
            _fail(f"tensor '{name}': names starting with '{RESERVED_PREFIX}' are reserved")
        arrays[name] = np.asarray(arr)
        if arrays[name].ndim > MAX_RANK:
            _fail(f"tensor '{name}': rank {arrays[name].ndim} exceeds {MAX_RANK}")
    return _Validator(graph_doc, arrays).run()


# --------------------------------------------------------------------------------------------
# Weight encoding helpers (for writers and tests)
# --------------------------------------------------------------------------------------------

def encode_weight(node_name: str, weight: np.ndarray, fmt: str, *, blocksize=None,
                  index_dtype=np.int32) -> dict:
    """The tensors storing ``weight`` of node ``node_name`` in storage ``fmt`` (§4).

    ``weight`` is the layer's weight as torch holds it: (O, I/groups, kh, kw) for conv2d or
    (M, K) for linear.  Dense keeps that shape; CSR/BSR store the (M, K) matrix
    ``weight.reshape(M, -1)`` keeping the entries (CSR) or ``blocksize`` blocks (BSR) that are
    not all zero.  Returns ``{tensor_name: array}``; the node's descriptor is
    ``{"format": fmt, "shape": [M, K]}`` plus ``"blocksize"`` for BSR.
    """
    w = np.asarray(weight, dtype=np.float32)
    base = f"{node_name}.weight"
    if fmt == "dense":
        return {base: np.ascontiguousarray(w)}
    w2 = w.reshape(w.shape[0], -1)
    M, K = w2.shape
    idt = np.dtype(index_dtype)
    if fmt == "csr":
        rows, cols = np.nonzero(w2)
        indptr = np.zeros(M + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=M), out=indptr[1:])
        return {f"{base}.data": w2[rows, cols].astype(np.float32),
                f"{base}.indices": cols.astype(idt),
                f"{base}.indptr": indptr.astype(np.int32)}
    if fmt == "bsr":
        if blocksize is None:
            raise ValueError("bsr storage needs a blocksize (r, c)")
        r, c = (int(x) for x in blocksize)
        if M % r or K % c:
            raise ValueError(f"blocksize {(r, c)} does not divide the weight matrix {(M, K)}")
        blocks = w2.reshape(M // r, r, K // c, c).transpose(0, 2, 1, 3)
        brow, bcol = np.nonzero(np.any(blocks != 0, axis=(2, 3)))
        indptr = np.zeros(M // r + 1, dtype=np.int64)
        np.cumsum(np.bincount(brow, minlength=M // r), out=indptr[1:])
        return {f"{base}.data": np.ascontiguousarray(blocks[brow, bcol], dtype=np.float32),
                f"{base}.indices": bcol.astype(idt),
                f"{base}.indptr": indptr.astype(np.int32)}
    raise ValueError(f"unknown storage format {fmt!r} (one of {', '.join(STORAGE_FORMATS)})")


def _decode_weight(desc: dict, t: Mapping[str, np.ndarray]) -> np.ndarray:
    M, K = desc["shape"]
    if desc["format"] == "dense":
        return np.asarray(t["weight"], dtype=np.float32).reshape(M, K)
    indptr = np.asarray(t["indptr"]).astype(np.int64)
    indices = np.asarray(t["indices"]).astype(np.int64)
    data = np.asarray(t["data"], dtype=np.float32)
    if desc["format"] == "csr":
        w = np.zeros((M, K), dtype=np.float32)
        rows = np.repeat(np.arange(M), np.diff(indptr))
        w[rows, indices] = data
        return w
    r, c = desc["blocksize"]
    w4 = np.zeros((M // r, K // c, r, c), dtype=np.float32)
    brows = np.repeat(np.arange(M // r), np.diff(indptr))
    w4[brows, indices] = data
    return w4.transpose(0, 2, 1, 3).reshape(M, K)


# --------------------------------------------------------------------------------------------
# The container (§2): safetensors with a 64-byte-aligned data buffer
# --------------------------------------------------------------------------------------------

def parse_model(data, *, path: str | None = None) -> ModelFile:
    """Parse and validate a whole model file held in memory (bytes-like or uint8 array)."""
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    buf = buf.reshape(-1).view(np.uint8)
    size = int(buf.size)
    if size < 8:
        _fail(f"file is {size} bytes, too short to hold the 8-byte header length")
    n = int.from_bytes(buf[:8].tobytes(), "little")
    if n < 2 or n > MAX_HEADER_BYTES:
        _fail(f"header length {n} is out of range [2, {MAX_HEADER_BYTES}]: not a safetensors"
              " file or a corrupt header length")
    if 8 + n > size:
        _fail(f"header length {n} exceeds the {size - 8} bytes that follow it: the file is"
              " truncated or the header length is corrupt")
    raw = buf[8:8 + n].tobytes()
    if raw[:1] != b"{":
        _fail("header does not start with '{': not a safetensors file or a corrupt header"
              " length")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(f"header is not valid UTF-8: {e}")
    header = _loads(text, "header")
    if not isinstance(header, dict):
        _fail("header must be a JSON object")

    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        _fail("header: no '__metadata__' object: not a sparse_rt model (a plain safetensors"
              " file?)")
    for k, v in meta.items():
        if not isinstance(v, str):
            _fail(f"header: __metadata__['{k}'] must be a string, got {type(v).__name__}")
    if METADATA_KEY not in meta:
        _fail(f"header: __metadata__ has no '{METADATA_KEY}' entry: not a sparse_rt model")
    doc = _loads(meta[METADATA_KEY], f"__metadata__['{METADATA_KEY}']")
    _check_head(doc)  # a future version is reported before anything it may have changed

    data_start = 8 + n
    buf_len = size - data_start
    if data_start % ALIGNMENT:
        _fail(f"the data buffer starts at byte {data_start}, not a multiple of {ALIGNMENT}"
              " (the header must be padded with spaces)")
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        entries.append((name,) + _tensor_entry(name, e, buf_len))

    # contiguous cover of the data buffer, as safetensors requires (§2.2)
    entries.sort(key=lambda t: (t[3], t[4]))
    pos, prev = 0, None
    for name, dt, shape, b, e in entries:
        if b < pos:
            _fail(f"tensor '{name}': data_offsets [{b}, {e}] overlap tensor '{prev}' (which ends"
                  f" at {pos})")
        if b > pos:
            _fail(f"tensor '{name}': data_offsets [{b}, {e}] leave a gap of {b - pos} bytes"
                  f" after offset {pos}; tensors must cover the data buffer contiguously")
        pos, prev = e, name
    if pos != buf_len:
        _fail(f"the data buffer has {buf_len} bytes but the tensors cover {pos}: trailing bytes"
              " after the last tensor")

    tensors = {}
    for name, dt, shape, b, e in sorted(entries, key=lambda t: t[3]):
        if name.startswith(PAD_PREFIX):
            if dt != "U8" or len(shape) != 1 or not 1 <= shape[0] < ALIGNMENT:
                _fail(f"tensor '{name}': a padding tensor must be U8 with shape [p],"
                      f" 1 <= p < {ALIGNMENT}; got {dt} {shape}")
            continue
        if name.startswith(RESERVED_PREFIX):
            _fail(f"tensor '{name}': names starting with '{RESERVED_PREFIX}' are reserved")
        if b % ALIGNMENT:
            _fail(f"tensor '{name}': data starts at offset {b} of the data buffer, not a multiple"
                  f" of {ALIGNMENT}")
        arr = buf[data_start + b:data_start + e].view(_DTYPES[dt]).reshape(shape)
        arr = arr.view(np.ndarray)
        arr.flags.writeable = False
        tensors[name] = arr
    mf = _Validator(doc, tensors).run()
    mf.path = path
    return mf


def _tensor_entry(name, e, buf_len):
    where = f"tensor '{name}'"
    if not isinstance(e, dict):
        _fail(f"{where}: header entry must be an object, got {e!r}")
    keys = set(e)
    if keys != _TENSOR_ENTRY_KEYS:
        extra = sorted(keys - _TENSOR_ENTRY_KEYS)
        missing = sorted(_TENSOR_ENTRY_KEYS - keys)
        _fail(f"{where}: header entry must have exactly dtype, shape, data_offsets"
              + (f"; missing {missing}" if missing else "")
              + (f"; unknown {extra}" if extra else ""))
    dt = e["dtype"]
    if not isinstance(dt, str):
        _fail(f"{where}: dtype must be a string, got {dt!r}")
    if dt not in _DTYPES:
        known = "known to safetensors but " if dt in _SAFETENSORS_DTYPES else ""
        _fail(f"{where}: dtype {dt!r} is {known}not allowed in a sparse_rt file (F32, I32, U16;"
              " U8 for padding)")
    shape = e["shape"]
    if not (isinstance(shape, list) and len(shape) <= MAX_RANK
            and all(_is_int(d) and d >= 0 for d in shape)):
        _fail(f"{where}: shape must be a list of at most {MAX_RANK} non-negative integers,"
              f" got {shape!r}")
    off = e["data_offsets"]
    if not (isinstance(off, list) and len(off) == 2 and all(_is_int(x) for x in off)):
        _fail(f"{where}: data_offsets must be [begin, end] integers, got {off!r}")
    b, end = off
    if not 0 <= b <= end:
        _fail(f"{where}: data_offsets [{b}, {end}] must satisfy 0 <= begin <= end")
    if end > buf_len:
        _fail(f"{where}: data_offsets [{b}, {end}] extend past the end of the data buffer"
              f" ({buf_len} bytes): the file is truncated or the offsets are corrupt")
    need = math.prod(shape) * _DTYPES[dt].itemsize  # exact integers: no overflow
    if need != end - b:
        _fail(f"{where}: shape {shape} of {dt} needs {need} bytes but data_offsets [{b}, {end}]"
              f" span {end - b}")
    return dt, shape, b, end


def read_model(path, *, mmap: bool = True) -> ModelFile:
    """Read and validate a model file.

    With ``mmap=True`` (default) the arrays are read-only views into a memory map of the file;
    otherwise the file is read into memory once.  Raises :class:`ModelFormatError` (message
    prefixed with the path) for any violation of the spec, ``OSError`` if it cannot be read.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if mmap and size > 0:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
    else:
        buf = np.fromfile(path, dtype=np.uint8)
    try:
        return parse_model(buf, path=path)
    except ModelFormatError as e:
        raise ModelFormatError(f"{path}: {e}") from None


def write_model(path, graph_doc: dict, tensors: Mapping[str, np.ndarray]) -> ModelFile:
    """Validate ``graph_doc`` + ``tensors`` and write them to ``path`` atomically.

    ``graph_doc`` is the document of docs/format.md §3; ``format`` and ``format_version`` are
    filled in when absent, and ``producer`` defaults to this package.  ``tensors`` maps the
    names of §4 to arrays (float32 values, int32 or uint16 indices); they are written in the
    order given, each 64-byte aligned.  The file is written to a temporary file in the same
    directory and renamed over ``path``, so readers never see a partial file.  Returns the
    validated :class:`ModelFile` of what was written (arrays are the caller's, not re-read).
    """
    doc = dict(graph_doc)
    doc.setdefault("format", FORMAT_NAME)
    doc.setdefault("format_version", FORMAT_VERSION)
    doc.setdefault("producer", {"name": "sparse_rt", "version": _package_version()})
    try:
        doc_json = json.dumps(doc, separators=(",", ":"), allow_nan=False, ensure_ascii=False,
                              default=_json_default)
    except (TypeError, ValueError) as e:
        raise ModelFormatError(f"document cannot be stored as JSON: {e}") from None
    doc = _loads(doc_json, "document")  # validate exactly what a reader will see
    if doc.get("format_version") != FORMAT_VERSION:
        _check_head(doc)
        _fail(f"document: this writer writes format_version {FORMAT_VERSION}, got"
              f" {doc.get('format_version')!r}")

    arrays = {}
    for name, a in tensors.items():
        a = np.asarray(a)
        code = _dtype_code(a.dtype)
        if code is None or code == "U8":
            _fail(f"tensor '{name}': dtype {a.dtype} cannot be stored (float32, int32 or"
                  " uint16)")
        arrays[name] = np.ascontiguousarray(a, dtype=_DTYPES[code])
    mf = validate_model(doc, arrays)

    header = {"__metadata__": {METADATA_KEY: doc_json}}
    pos, npad, chunks = 0, 0, []
    for name, a in arrays.items():
        pad = -pos % ALIGNMENT
        if pad:
            header[f"{PAD_PREFIX}{npad}__"] = {"dtype": "U8", "shape": [pad],
                                               "data_offsets": [pos, pos + pad]}
            chunks.append(bytes(pad))
            npad += 1
            pos += pad
        header[name] = {"dtype": _dtype_code(a.dtype), "shape": list(a.shape),
                        "data_offsets": [pos, pos + a.nbytes]}
        chunks.append(a)
        pos += a.nbytes
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hbytes += b" " * (-(8 + len(hbytes)) % ALIGNMENT)
    if len(hbytes) > MAX_HEADER_BYTES:
        _fail(f"header would be {len(hbytes)} bytes, more than {MAX_HEADER_BYTES}")

    path = os.fspath(path)
    d, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(d, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hbytes)))
            f.write(hbytes)
            for c in chunks:
                f.write(c.data if isinstance(c, np.ndarray) else c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    mf.path = path
    return mf


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version("sparse_rt")
    except Exception:  # not installed (source tree): the producer version is informational
        return "unknown"

