"""Per-layer storage choice: dense, CSR or BSR.

With ``measure=True`` (the default) every candidate storage is timed on the layer's real
shapes through the runtime itself (a one-layer model file per candidate, run by
``sparse_rt.load``), at the example input's batch and, when that is below
``SECOND_BATCH``, at ``SECOND_BATCH`` too: a model exported from a one-sample example is
usually also run on batches, where dense kernels gain more than sparse ones. Each candidate's
time is divided by dense's at the same batch and the candidate with the smallest geometric mean
of those ratios wins (each time is the candidate's fastest run). Timings are cached on disk, keyed by everything
that affects them, so re-exporting the same shapes is fast. Without measurement (or when the
runtime cannot load files) a density threshold decides.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from ..format import encode_weight, write_model
from .lower import Layer

BLOCK_SHAPES = ((1, 4), (4, 1), (4, 4), (8, 1), (16, 1))
CSR_MAX_DENSITY = 0.3        # threshold rule: sparse storage at or below this density
BSR_MAX_FILL = 1.10          # a block shape is a candidate when it stores <= 10% extra zeros
SECOND_BATCH = 16            # also timed when the example batch is smaller


@dataclass
class Choice:
    format: str
    blocksize: tuple | None
    reason: str
    timings_ms: dict = field(default_factory=dict)          # label -> ms at the example batch
    timings_ms_by_batch: dict = field(default_factory=dict)  # str(batch) -> {label: ms}


def _matrix(layer: Layer) -> np.ndarray:
    return layer.weight.reshape(layer.weight.shape[0], -1)


def block_fill(w2: np.ndarray, block) -> float | None:
    """Stored values / non-zeros when stored as BSR with ``block`` (None if it does not divide)."""
    r, c = block
    M, K = w2.shape
    if M % r or K % c:
        return None
    nnz = int(np.count_nonzero(w2))
    if nnz == 0:
        return 1.0
    blocks = np.any(w2.reshape(M // r, r, K // c, c) != 0, axis=(1, 3))
    return float(blocks.sum()) * r * c / nnz


def allowed_blocks(layer: Layer) -> list[tuple[tuple, float]]:
    """Block shapes the mask allows (few padded zeros), with their fill ratio, best first."""
    w2 = _matrix(layer)
    groups = layer.node["attrs"].get("groups", 1)
    out = []
    for block in BLOCK_SHAPES:
        if (w2.shape[0] // groups) % block[0]:
            continue
        fill = block_fill(w2, block)
        if fill is not None and fill <= BSR_MAX_FILL:
            out.append((block, fill))
    return sorted(out, key=lambda bf: (bf[1], -bf[0][0] * bf[0][1]))


def _label(fmt, block) -> str:
    return f"bsr{block[0]}x{block[1]}" if fmt == "bsr" else fmt


# ------------------------------------------------------------------------------------------
# timing through the runtime
# ------------------------------------------------------------------------------------------

def _cache_path() -> str:
    root = os.environ.get("SPARSE_RT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "sparse_rt")
    return os.path.join(root, "export_timings.json")


class TimingCache:
    def __init__(self, path: str | None):
        self.path = path
        self.data = {}
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    self.data = json.load(f)
            except (OSError, ValueError):
                self.data = {}  # a corrupt cache is rebuilt, never trusted

    def get(self, key):
        v = self.data.get(key)
        return float(v) if isinstance(v, (int, float)) else None

    def put(self, key, ms):
        self.data[key] = ms

    def save(self):
        if not self.path:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(self.data, f)
            os.replace(tmp, self.path)
        except OSError:
            pass  # caching is an optimisation only


def _one_layer_doc(layer: Layer, fmt, block, batch):
    node = {k: v for k, v in layer.node.items() if k != "layer_info"}
    node = {**node, "inputs": ["x"], "outputs": ["y"], "attrs": dict(node["attrs"])}
    node["attrs"]["activation"] = "none"
    M, K = _matrix(layer).shape
    node["weight"] = {"format": fmt, "shape": [M, K]}
    if fmt == "bsr":
        node["weight"]["blocksize"] = list(block)
    tensors = encode_weight(node["name"], layer.weight, fmt, blocksize=block)
    if node["attrs"].get("bias"):
        tensors[f"{node['name']}.bias"] = layer.bias
    if node["op"] == "conv2d":
        from ..format import _pool_out  # the spec's output-size rule
        a = node["attrs"]
        C, H, W = layer.input_shape
        kh, kw = a["kernel"]
        sh, sw = a.get("stride", [1, 1])
        pt, pl, pb, pr = a.get("padding", [0, 0, 0, 0])
        dh, dw = a.get("dilation", [1, 1])
        out_shape = [None, a["out_channels"], _pool_out(H, kh, sh, pt, pb, dh, False),
                     _pool_out(W, kw, sw, pl, pr, dw, False)]
    else:
        out_shape = [None, M]
    doc = {"format": "sparse_rt", "format_version": 1,
           "producer": {"name": "sparse_rt.export (format timing)"},
           "inputs": [{"name": "x", "shape": [None, *layer.input_shape], "dtype": "f32"}],
           "outputs": [{"name": "y", "shape": out_shape, "dtype": "f32"}],
           "nodes": [node]}
    return doc, tensors


def _time_candidate(layer: Layer, fmt, block, batch, tmpdir, min_runs=5, min_ms=30.0) -> float:
    import sparse_rt

    doc, tensors = _one_layer_doc(layer, fmt, block, batch)
    path = os.path.join(tmpdir, f"{_label(fmt, block)}.sprt")
    write_model(path, doc, tensors)
    model = sparse_rt.load(path)
    x = np.random.default_rng(0).standard_normal((batch, *layer.input_shape)).astype(np.float32)
    model(x)  # warm-up: plans buffers, touches the weights
    times = []
    t_end = time.perf_counter() + min_ms / 1e3
    while len(times) < min_runs or (time.perf_counter() < t_end and len(times) < 200):
        t0 = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t0) * 1e3)
    # The minimum, not the median: on a shared machine a run whose thread was descheduled at an
    # OpenMP barrier takes a whole scheduler slice (4-16 ms here), and such stalls made the
    # median pick dense for 90%-sparse layers. The fastest run is the layer's own cost.
    return float(np.min(times))


def _build_id() -> list:
    """Identifies the compiled kernels: timings from another build of _core are not reused."""
    from .. import _core

    st = os.stat(_core.__file__)
    return [os.path.basename(_core.__file__), st.st_size, int(st.st_mtime)]


def _cache_key(layer: Layer, fmt, block, batch, nnz) -> str:
    import sparse_rt

    info = sparse_rt.runtime_info()
    attrs = {k: v for k, v in layer.node["attrs"].items() if k not in ("activation",)}
    key = json.dumps([layer.node["op"], attrs, list(layer.input_shape), batch, fmt,
                      list(block) if block else None, nnz, info["isa"], info["num_threads"],
                      info["version"], _build_id()], sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()


def runtime_can_time() -> bool:
    import sparse_rt

    return hasattr(sparse_rt, "load")


# ------------------------------------------------------------------------------------------
# the decision
# ------------------------------------------------------------------------------------------

def _threshold_choice(layer: Layer, why: str) -> Choice:
    w2 = _matrix(layer)
    density = np.count_nonzero(w2) / max(1, w2.size)
    if density > CSR_MAX_DENSITY:
        return Choice("dense", None, f"{why}: density {density:.2f} > {CSR_MAX_DENSITY}")
    blocks = [bf for bf in allowed_blocks(layer) if bf[1] <= 1.0 and bf[0] != (1, 1)]
    if blocks:
        block = max((b for b, _ in blocks), key=lambda b: b[0] * b[1])
        return Choice("bsr", block, f"{why}: density {density:.2f}, mask is {block[0]}x{block[1]}"
                                     " block-structured")
    return Choice("csr", None, f"{why}: density {density:.2f} <= {CSR_MAX_DENSITY}")


def choose(layer: Layer, requested: str, block, *, batch: int, measure: bool,
           cache: TimingCache, tmpdir: str) -> Choice:
    """The storage for one layer. ``requested`` is "auto", "dense", "csr" or "bsr"."""
    w2 = _matrix(layer)
    if requested == "dense" or requested == "csr":
        return Choice(requested, None, "requested")
    if requested == "bsr":
        if block is not None:
            fill = block_fill(w2, block)
            if fill is None:
                raise ValueError(f"layer '{layer.node['name']}': block {tuple(block)} does not "
                                 f"divide its weight matrix {w2.shape}")
            return Choice("bsr", tuple(block), "requested")
        blocks = allowed_blocks(layer)
        if not blocks:
            divides = [b for b in BLOCK_SHAPES if block_fill(w2, b) is not None]
            if not divides:
                raise ValueError(f"layer '{layer.node['name']}': no block shape of "
                                 f"{BLOCK_SHAPES} divides its weight matrix {w2.shape}")
            best = min(divides, key=lambda b: block_fill(w2, b))
            return Choice("bsr", best, f"requested; least fill {block_fill(w2, best):.2f}")
        return Choice("bsr", blocks[0][0], f"requested; mask fits {blocks[0][0]} blocks")

    # auto
    if not measure or not runtime_can_time():
        return _threshold_choice(layer, "threshold" if not measure else
                                 "threshold (runtime cannot time layers)")
    cands = [("dense", None), ("csr", None)]
    if block is not None:
        if block_fill(w2, block) is not None:
            cands.append(("bsr", tuple(block)))
    else:
        cands += [("bsr", b) for b, _ in allowed_blocks(layer)]
    nnz = int(np.count_nonzero(w2))
    batches = [batch] if batch >= SECOND_BATCH else [batch, SECOND_BATCH]
    by_batch = {}
    for b in batches:
        timings = {}
        for fmt, blk in cands:
            key = _cache_key(layer, fmt, blk, b, nnz)
            ms = cache.get(key)
            if ms is None:
                ms = _time_candidate(layer, fmt, blk, b, tmpdir)
                cache.put(key, ms)
            timings[_label(fmt, blk)] = round(ms, 5)
        by_batch[str(b)] = timings

    def score(label):  # geometric mean over the batches of time / dense time
        ratios = [t[label] / max(t["dense"], 1e-9) for t in by_batch.values()]
        return float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-12)))))

    labels = list(by_batch[str(batch)])
    best = min(labels, key=score)
    fmt, blk = next((f, b) for f, b in cands if _label(f, b) == best)
    def at(label):
        return " / ".join(f"{by_batch[str(b)][label]:.3f}" for b in batches)
    others = ", ".join(f"{k} {at(k)} ms" for k in labels if k != best)
    where = f"batch {batches[0]}" if len(batches) == 1 else f"batches {batches[0]} / {batches[1]}"
    reason = (f"fastest at {where} (geometric mean of time vs dense): {best} {at(best)} ms"
              + (f" vs {others}" if others else ""))
    return Choice(fmt, blk, reason, by_batch[str(batch)], by_batch)


def choose_all(lowered, requested, block, *, batch, measure, progress=None):
    """Choices for every weighted layer; ``requested`` may be a dict name -> format."""
    cache = TimingCache(_cache_path() if measure else None)
    out = {}
    with tempfile.TemporaryDirectory(prefix="sparse_rt_export_") as tmpdir:
        for name, layer in lowered.layers.items():
            req = requested.get(name, "auto") if isinstance(requested, dict) else requested
            out[name] = choose(layer, req, block, batch=batch, measure=measure, cache=cache,
                               tmpdir=tmpdir)
            if progress is not None:
                progress(name)
    cache.save()
    return out
