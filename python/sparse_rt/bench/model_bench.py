"""Benchmark one model: prune a reference model by a pattern (or take a model file), export it,
run it with sparse_rt, and time it against the same model dense in sparse_rt and against
torch eager (plus torch CSR for linear layers and ONNX Runtime, when they apply) in the same
process, with the same thread count.

Entry points: :func:`bench_reference` (a reference model name) and :func:`bench_file` (a
``.sprt`` file). Both return a plain dict (the JSON of ``sparse-rt bench --json``; fields in
docs/benchmarks.md). torch is imported only where a torch model is involved.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime
import os
import platform
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..format import encode_weight, read_model, write_model
from .flops import WEIGHTED_OPS, ModelFlops, model_flops, theoretical_speedup
from .timing import Timing, time_alternating, time_callable

SCHEMA = "sparse_rt.bench/1"

# name -> (builder name in sparse_rt.models, default num_classes, takes an input size)
REFERENCE_MODELS = {
    "resnet18": ("resnet18", 1000, True),
    "resnet50": ("resnet50", 1000, True),
    "mobilenet_v1": ("mobilenet_v1", 1000, True),
    "mobilenet_v2": ("mobilenet_v2", 1000, True),
    "vgg_small": ("vgg_small", 10, True),
    "digits_mlp": ("digits_mlp", 10, False),
    "digits_cnn": ("digits_cnn", 10, False),
}
DEFAULT_INPUT_SIZE = {"vgg_small": 32}  # others that take a size: 224
PATTERN_KINDS = ("unstructured", "block", "n:m", "channel")
MATCH_CHOICES = ("flops", "params")
SCOPE_CHOICES = ("layer", "global")
EXPORT_FORMATS = ("auto", "dense", "csr", "bsr")
TORCH_CSR_CHOICES = ("auto", "on", "off")
NOISY_WARNING = ("timing is noisy (robust spread 1.4826*MAD/median > {:.0%}): the machine is "
                 "busy; repeat, and compare ratios measured in one run")


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pattern:
    """A pruning pattern: ``unstructured``, ``block:RxC``, ``N:M`` (e.g. ``2:4``) or ``channel``."""

    kind: str
    block: tuple | None = None  # (r, c) for "block"
    nm: tuple | None = None     # (n, m) for "n:m"

    @property
    def label(self) -> str:
        if self.kind == "block":
            return f"block:{self.block[0]}x{self.block[1]}"
        if self.kind == "n:m":
            return f"{self.nm[0]}:{self.nm[1]}"
        return self.kind

    @property
    def fixed_sparsity(self) -> float | None:
        """N:M fixes the sparsity of the pruned layers at 1 - N/M."""
        return 1.0 - self.nm[0] / self.nm[1] if self.kind == "n:m" else None

    def __str__(self) -> str:
        return self.label


def parse_pattern(text) -> Pattern:
    """``"unstructured"``, ``"block:4x4"`` (or ``"4x4"``), ``"2:4"``, ``"channel"``."""
    if isinstance(text, Pattern):
        return text
    if not isinstance(text, str):
        raise ValueError(f"pattern must be a string, got {text!r}")
    t = text.strip().lower()
    if t in ("unstructured", "channel"):
        return Pattern(t)
    m = re.fullmatch(r"(?:block:)?(\d+)x(\d+)", t)
    if m:
        r, c = int(m.group(1)), int(m.group(2))
        if r < 1 or c < 1:
            raise ValueError(f"pattern {text!r}: block sides must be >= 1")
        return Pattern("block", block=(r, c))
    m = re.fullmatch(r"(\d+):(\d+)", t)
    if m:
        n, mm = int(m.group(1)), int(m.group(2))
        if not 1 <= n < mm:
            raise ValueError(f"pattern {text!r}: N:M needs 1 <= N < M")
        return Pattern("n:m", nm=(n, mm))
    raise ValueError(f"unknown pattern {text!r}; use unstructured, block:RxC (e.g. block:4x4), "
                     "N:M (e.g. 2:4) or channel")


def check_sparsity(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"sparsity must be a number in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TimingOptions:
    """Warm-up runs, then at least ``min_runs`` runs and ``min_seconds`` of timed runs."""

    warmup: int = 3
    min_runs: int = 10
    min_seconds: float = 1.0
    max_seconds: float = 30.0

    def __post_init__(self):
        if self.warmup < 0 or self.min_runs < 1 or not self.min_seconds >= 0:
            raise ValueError(f"bad timing options: warmup={self.warmup!r}, "
                             f"min_runs={self.min_runs!r}, min_seconds={self.min_seconds!r}")

    def time(self, fn) -> Timing:
        return time_callable(fn, warmup=self.warmup, min_runs=self.min_runs,
                             min_seconds=self.min_seconds, max_seconds=self.max_seconds)

    def time_side_by_side(self, fns) -> list:
        """Alternating blocks of runs (timing.time_alternating): for ratios."""
        return time_alternating(fns, warmup=self.warmup, min_runs=self.min_runs,
                                min_seconds=self.min_seconds, max_seconds=self.max_seconds)


@dataclass
class BenchOptions:
    batch: int = 1
    threads: int | None = None          # None: sparse_rt's current setting
    input_size: int | None = None       # image side for models that take one
    format: str = "auto"                # export storage choice
    measure: bool = True                # exporter times candidate formats
    verify: bool = True                 # exporter checks the file against torch
    match: str = "flops"                # channel pruning matched to FLOPs or params
    scope: str = "layer"                # unstructured: the same sparsity per layer, or global
    channel_amount: float | None = None  # given directly instead of matched
    per_layer: bool = False
    torch: bool = True                  # time torch eager
    torch_csr: str = "auto"             # torch with CSR linear layers: auto/on/off
    onnx: bool = True                   # ONNX Runtime when importable
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)  # e.g. {"width": 8} for tiny variants
    timing: TimingOptions = field(default_factory=TimingOptions)
    save: str | None = None             # keep the pruned model file here
    progress: bool = False              # tqdm bars (export format choice, channel search)

    def __post_init__(self):
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {self.batch!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or
                                         not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be an integer >= 1, got {self.threads!r}")
        if self.input_size is not None and (not isinstance(self.input_size, int) or
                                            self.input_size < 8):
            raise ValueError(f"input size must be an integer >= 8, got {self.input_size!r}")
        if self.format not in EXPORT_FORMATS:
            raise ValueError(f"format {self.format!r} is not one of {', '.join(EXPORT_FORMATS)}")
        if self.match not in MATCH_CHOICES:
            raise ValueError(f"match {self.match!r} is not one of {', '.join(MATCH_CHOICES)}")
        if self.scope not in SCOPE_CHOICES:
            raise ValueError(f"scope {self.scope!r} is not one of {', '.join(SCOPE_CHOICES)}")
        if self.torch_csr not in TORCH_CSR_CHOICES:
            raise ValueError(f"torch_csr {self.torch_csr!r} is not one of "
                             f"{', '.join(TORCH_CSR_CHOICES)}")
        if self.channel_amount is not None:
            check_sparsity(self.channel_amount)


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------

def environment(threads: int) -> dict:
    """CPU, ISA, thread count and versions: recorded in every output."""
    import sparse_rt

    env = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "threads": threads, "sparse_rt": sparse_rt.runtime_info(),
           "python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "git_commit": _git_commit(),
           "load_average": _load_average()}
    for mod in ("torch", "onnxruntime"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    return env


def _load_average() -> list | None:
    """1, 5 and 15-minute load averages: how busy the machine was (other processes)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _git_commit() -> str | None:
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@contextlib.contextmanager
def fixed_threads(threads: int | None):
    """Set sparse_rt's (and torch's, if imported) thread count; restore afterwards."""
    import sys

    import sparse_rt

    before = sparse_rt.get_num_threads()
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch else None
    n = threads or before
    sparse_rt.set_num_threads(n)
    if torch:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        sparse_rt.set_num_threads(before)
        if torch:
            torch.set_num_threads(torch_before)


def load_runtime(path):
    """``sparse_rt.load(path)``, with a clear error when this build has no model runtime."""
    import sparse_rt

    if not hasattr(sparse_rt, "load"):
        raise RuntimeError("this sparse_rt build has no sparse_rt.load (the model runtime); "
                           "benchmarks need it")
    return sparse_rt.load(os.fspath(path))


# --------------------------------------------------------------------------------------------
# models and pruning (torch)
# --------------------------------------------------------------------------------------------

def build_reference(name: str, *, input_size: int | None = None, seed: int = 0,
                    model_kwargs: dict | None = None):
    """A reference model with random weights, in eval mode, and its per-sample input shape."""
    import torch

    import sparse_rt.models as models

    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown model {name!r}; reference models: "
                         f"{', '.join(REFERENCE_MODELS)} (or pass a .sprt file)")
    builder, classes, sized = REFERENCE_MODELS[name]
    kwargs = dict(model_kwargs or {})
    kwargs.setdefault("num_classes", classes)
    if name == "vgg_small":
        kwargs["input_size"] = input_size or DEFAULT_INPUT_SIZE[name]
    elif not sized and input_size is not None:
        raise ValueError(f"model {name!r} has a fixed input size; do not pass an input size "
                         f"(got {input_size!r})")
    torch.manual_seed(seed)
    model = getattr(models, builder)(**kwargs).eval()
    if hasattr(model, "input_shape"):
        shape = tuple(model.input_shape)
    else:
        side = input_size or 224
        shape = (3, side, side)
    return model, shape


def _prunable_filter(model, pattern):
    """The default filter (first conv and last linear stay dense), less the layers the
    pattern cannot apply to (a block that does not divide the weight, N:M on too few inputs,
    depthwise convs for blocks)."""
    from sparse_rt import prune
    from sparse_rt.prune.patterns import parse_pattern as torch_pattern

    default = prune.default_filter(model)
    if pattern.kind == "unstructured":
        return default
    p = torch_pattern(pattern.block if pattern.kind == "block" else pattern.label)

    def fits(module, name):
        if not default(module, name):
            return False
        try:
            p.check(module.weight.shape, name)
        except (ValueError, TypeError):
            return False
        return True

    return fits


def _layer_counts(model, example_shape):
    """(name, dense FLOPs per sample, params) of every conv/linear layer (torch shapes)."""
    from sparse_rt import prune

    rep = prune.sparsity_report(model, example_input=(1, *example_shape))
    return [(layer.name, layer.dense_flops, layer.params) for layer in rep.layers]


def channel_target(model, example_shape, sparsity: float, match: str) -> float:
    """What channel pruning must leave to match weight pruning at ``sparsity``: the FLOPs (or
    weights) that pruning ``sparsity`` of every prunable layer (first conv and last linear kept
    dense) would leave."""
    from sparse_rt import prune

    keep = prune.default_filter(model)
    modules = dict(model.named_modules())
    total = 0.0
    for name, flops, params in _layer_counts(model, example_shape):
        value = flops if match == "flops" else params
        total += value * (1 - sparsity) if keep(modules[name], name) else value
    return total


def _channel_size(model, example_shape, match):
    counts = _layer_counts(model, example_shape)
    return float(sum(f if match == "flops" else p for _, f, p in counts))


def channel_prune(model, example_shape, *, sparsity: float | None, match: str = "flops",
                  amount: float | None = None, max_evals: int = 6, rtol: float = 0.03,
                  progress: bool = False):
    """Physically remove channels (prune.channels, L1 filter norm, every conv/linear).

    With ``amount`` given, that fraction of each channel group is removed. Otherwise the amount
    is searched so the smaller model's FLOPs (or parameters) match :func:`channel_target` as
    closely as channels allow: a first guess from size ∝ (1 - amount)², then regula falsi on
    the bracket, stopping within ``rtol`` or after ``max_evals`` models. Returns (smaller
    model, info).
    """
    from sparse_rt import prune

    shape = (1, *example_shape)

    def cut(a):
        if a <= 0:
            return model
        return prune.channels(model, a, example_input=shape, filter_fn=prune.every_layer)

    if amount is not None:
        smaller = cut(amount)
        return smaller, {"channel_amount": amount, "match": None, "target": None,
                         "achieved": _channel_size(smaller, example_shape, "flops")}
    target = channel_target(model, example_shape, sparsity, match)
    full = _channel_size(model, example_shape, match)
    lo, f_lo = 0.0, full            # size decreases with the amount
    hi, f_hi = 0.99, None
    best = (abs(full - target), 0.0, model, full)
    a = min(0.98, max(0.0, 1.0 - (target / full) ** 0.5))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_evals, desc=f"matching channel {match}", unit="model", leave=False)
    for _ in range(max_evals):
        smaller = cut(a)
        size = _channel_size(smaller, example_shape, match)
        if bar:
            bar.update(1)
        if abs(size - target) < best[0]:
            best = (abs(size - target), a, smaller, size)
        if abs(size - target) <= rtol * target:
            break
        if size > target:
            lo, f_lo = a, size
        else:
            hi, f_hi = a, size
        if f_hi is None:       # no upper bracket yet: step towards the top
            a = (a + hi) / 2
        else:                  # regula falsi, kept inside the bracket
            a = lo + (hi - lo) * (f_lo - target) / max(f_lo - f_hi, 1e-12)
            a = min(max(a, lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo))
    if bar:
        bar.close()
    _, a, smaller, size = best
    return smaller, {"channel_amount": a, "match": match, "target": target, "achieved": size}


def prune_reference(model, pattern: Pattern, sparsity: float, example_shape, *,
                    match: str = "flops", channel_amount: float | None = None,
                    scope: str = "layer", progress: bool = False):
    """A pruned copy of ``model`` (masks made permanent) and a dict describing the pruning.

    unstructured: prune.magnitude(scope=scope) — "layer" (default) prunes ``sparsity`` of every
    layer; "global" ranks all weights together, which on *random* weights ranks by the
    initialisation scale (∝ 1/sqrt(fan-in)) and can empty whole layers. block:
    prune.magnitude(pattern=(r, c)) per layer; N:M: prune.magnitude(pattern="N:M"); channel:
    :func:`channel_prune`. Weight patterns use the default filter (first conv and last linear
    dense) less layers the pattern does not fit; sparsity 0 returns an unpruned copy.
    """
    from sparse_rt import prune

    info = {"pattern": pattern.label, "sparsity": sparsity,
            "scope": scope if pattern.kind == "unstructured" else "layer"}
    if pattern.kind == "channel":
        if sparsity == 0 and channel_amount is None:
            return prune.copy_model(model), {**info, "channel_amount": 0.0}
        smaller, extra = channel_prune(model, example_shape, sparsity=sparsity, match=match,
                                       amount=channel_amount, progress=progress)
        return smaller, {**info, **extra}
    pruned = prune.copy_model(model)
    if sparsity > 0 or pattern.kind == "n:m":
        filt = _prunable_filter(pruned, pattern)
        if pattern.kind == "unstructured":
            prune.magnitude(pruned, sparsity, scope=scope)
        elif pattern.kind == "block":
            prune.magnitude(pruned, sparsity, pattern=pattern.block, filter_fn=filt)
        else:
            prune.magnitude(pruned, None, pattern=pattern.label, filter_fn=filt)
        prune.remove(pruned)
    return pruned, info


def export_file(model, example_shape, batch, path, opts: BenchOptions, *, format=None):
    import torch

    import sparse_rt

    g = torch.Generator().manual_seed(opts.seed + 1)
    example = torch.randn((batch, *example_shape), generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sparse_rt.export(model, example, path, format=format or opts.format,
                                verify=opts.verify, measure=opts.measure,
                                progress=opts.progress and opts.measure)


# --------------------------------------------------------------------------------------------
# file-level helpers (numpy only)
# --------------------------------------------------------------------------------------------

_WEIGHT_ROLES = ("weight", "data", "indices", "indptr")


def densify_file(src, dst) -> str:
    """Write ``src`` with every conv/linear weight stored dense (the same model, dense)."""
    mf = read_model(os.fspath(src))
    doc = copy.deepcopy(mf.meta)
    tensors = {}
    for nd in doc["nodes"]:
        spec = mf.node(nd["name"])
        for role, tname in spec.params.items():
            if spec.weight is None or role not in _WEIGHT_ROLES:
                tensors[tname] = np.asarray(mf.tensors[tname])
        if spec.weight is not None:
            w = mf.dense_weight(spec.name)
            if spec.op == "conv2d":
                a = spec.attrs
                w = w.reshape(a["out_channels"], a["in_channels"] // a["groups"], *a["kernel"])
            tensors.update(encode_weight(spec.name, w, "dense"))
            nd["weight"] = {"format": "dense", "shape": list(spec.weight["shape"])}
    write_model(os.fspath(dst), doc, tensors)
    return os.fspath(dst)


def one_layer_file(mf, node_name: str, dst) -> str:
    """A model file holding only node ``node_name`` of ``mf``, on its real input shape."""
    spec = mf.node(node_name)
    nd = copy.deepcopy(next(n for n in mf.meta["nodes"] if n["name"] == node_name))
    in_shape = mf.shapes[spec.inputs[0]]
    doc = {"format": mf.meta["format"], "format_version": mf.meta["format_version"],
           "producer": {"name": "sparse_rt.bench"},
           "inputs": [{"name": spec.inputs[0], "shape": [None, *in_shape[1:]], "dtype": "f32"}],
           "outputs": [{"name": spec.outputs[0], "shape": [None, *spec.output_shape[1:]],
                        "dtype": "f32"}],
           "nodes": [nd]}
    tensors = {t: np.asarray(mf.tensors[t]) for t in spec.params.values()}
    write_model(os.fspath(dst), doc, tensors)
    return os.fspath(dst)


def _input(shape, batch, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *shape)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# timing each runtime
# --------------------------------------------------------------------------------------------

def _entry(t: Timing, batch: int, useful_flops: float | None = None, **extra) -> dict:
    d = {**t.as_dict(), "throughput_per_s": batch * 1e3 / t.median_ms}
    if useful_flops is not None:
        d["useful_gflops_per_s"] = useful_flops / (t.median_ms * 1e6)
    d.update(extra)
    return d


def time_sparse_rt(path, x, timing: TimingOptions):
    model = load_runtime(path)
    model(x)  # plan + first run outside the timing
    return timing.time(lambda: model(x)), model


def time_torch(model, x: np.ndarray, timing: TimingOptions) -> Timing:
    import torch

    xt = torch.from_numpy(x)
    with torch.inference_mode():
        return timing.time(lambda: model(xt))


def torch_csr_model(model, min_sparsity: float = 0.5):
    """A copy of ``model`` whose Linear layers with >= ``min_sparsity`` zeros use torch's own
    CSR (``torch.mm`` on ``to_sparse_csr`` with int32 indices); everything else unchanged."""
    import torch
    from torch import nn

    class CSRLinear(nn.Module):
        def __init__(self, lin: nn.Linear):
            super().__init__()
            with warnings.catch_warnings():  # "sparse CSR support is in beta", invariants
                warnings.simplefilter("ignore")
                csr = lin.weight.detach().to_sparse_csr()
                self.weight = torch.sparse_csr_tensor(
                    csr.crow_indices().to(torch.int32), csr.col_indices().to(torch.int32),
                    csr.values(), size=csr.shape, check_invariants=False)
            self.bias = None if lin.bias is None else lin.bias.detach()

        def forward(self, x):
            if x.shape[0] == 1:  # torch.mv is torch's fastest CSR path at batch 1
                y = torch.mv(self.weight, x[0]).unsqueeze(0)
            else:  # a contiguous right-hand side: mm on a transposed view is ~100x slower
                y = torch.mm(self.weight, x.t().contiguous()).t()
            return y if self.bias is None else y + self.bias

    out = copy.deepcopy(model)
    replaced = []
    for name, module in list(out.named_modules()):
        if isinstance(module, nn.Linear):
            w = module.weight.detach()
            if float((w == 0).float().mean()) < min_sparsity:
                continue
            parent_name, _, child = name.rpartition(".")
            parent = out.get_submodule(parent_name) if parent_name else out
            setattr(parent, child, CSRLinear(module))
            replaced.append(name)
    return out, replaced


def time_onnxruntime(model, x: np.ndarray, threads: int, timing: TimingOptions, workdir):
    """ONNX Runtime (CPU, all graph optimisations) on the model exported with torch.onnx."""
    import onnxruntime as ort
    import torch

    path = os.path.join(workdir, "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {"x": x}
    sess.run(None, feed)
    return timing.time(lambda: sess.run(None, feed)), ort.__version__


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# per-layer
# --------------------------------------------------------------------------------------------

def per_layer(runtime_model, path, x, flops: ModelFlops, timing: TimingOptions, workdir) -> dict:
    """Each layer's time, format and kernel.

    When the runtime has per-layer timers (``Model.profile`` + ``Model.report``), they are used:
    one consistent decomposition of whole-model runs (median over the runs), including
    elementwise layers and fused nodes. Otherwise each conv/linear layer is written as a
    one-layer model file and timed alone with the timing method, on its real input (taken from
    the reference executor's intermediates); elementwise layers are then not listed and the
    layer times need not add up to the whole model.
    """
    batch = x.shape[0]
    by_name = {layer.name: layer for layer in flops.layers}
    if hasattr(runtime_model, "profile") and hasattr(runtime_model, "report"):
        report = list(runtime_model.report())
        # as many runs as the timing method would make (from a first estimate), 20..2000
        est = runtime_model.profile(x, repeat=3)["total_ms"]
        repeat = int(min(2000, max(timing.min_runs, 20, timing.min_seconds * 1e3 / max(est, 1e-3))))
        prof = runtime_model.profile(x, repeat=repeat)
        rows = []
        for r, ms in zip(report, prof["layers_ms"]):
            lf = by_name.get(r["name"])
            rows.append({
                "name": r["name"], "fused": list(r.get("fused", [])), "op": r["op"],
                "format": r.get("format"), "kernel": r.get("kernel"), "median_ms": ms,
                "dense_flops": lf.dense_flops * batch if lf else r.get("dense_flops", 0) * batch,
                "useful_flops": lf.useful_flops * batch if lf else r.get("useful_flops", 0) * batch,
                "density": lf.density if lf else r.get("density")})
        return {"method": "runtime profile (Model.profile)", "layers": rows,
                "total_ms": prof["total_ms"], "overhead_ms": prof.get("overhead_ms")}
    from ..reference import run_reference

    mf = read_model(os.fspath(path))
    values = run_reference(mf, x, intermediates=True)
    rows = []
    for node in mf.nodes:
        if node.op not in WEIGHTED_OPS:
            continue
        f = one_layer_file(mf, node.name, os.path.join(workdir, f"layer_{len(rows)}.sprt"))
        lx = np.ascontiguousarray(values[node.inputs[0]], dtype=np.float32)
        t, m = time_sparse_rt(f, lx, timing)
        kernel = None
        if hasattr(m, "report"):
            rep = list(m.report())
            kernel = rep[0].get("kernel") if rep else None
        lf = by_name[node.name]
        rows.append({"name": node.name, "fused": [], "op": node.op, "format": lf.format,
                     "kernel": kernel, "median_ms": t.median_ms, "p90_ms": t.p90_ms,
                     "dense_flops": lf.dense_flops * batch, "useful_flops": lf.useful_flops * batch,
                     "density": lf.density})
    return {"method": "one-layer model files", "layers": rows, "total_ms": None,
            "overhead_ms": None}


# --------------------------------------------------------------------------------------------
# the benchmarks
# --------------------------------------------------------------------------------------------

def _speedups(result: dict) -> dict:
    s = result["sparse_rt"]["median_ms"]
    sp = {"theoretical": result["flops"]["theoretical_speedup"]}
    dense = result.get("sparse_rt_dense")
    sp["vs_sparse_rt_dense"] = dense["median_ms"] / s if dense else None
    b = result["baselines"]
    for key, name in (("torch_eager", "vs_torch"), ("torch_eager_dense", "vs_torch_dense"),
                      ("torch_csr", "vs_torch_csr"), ("onnxruntime", "vs_onnxruntime")):
        sp[name] = b[key]["median_ms"] / s if key in b and "median_ms" in b[key] else None
    th = sp["theoretical"]
    sp["realised"] = (sp["vs_sparse_rt_dense"] / th
                      if sp["vs_sparse_rt_dense"] and th and np.isfinite(th) else None)
    return sp


def _warnings(result: dict) -> list:
    out = []
    entries = [("sparse_rt", result["sparse_rt"])]
    if result.get("sparse_rt_dense"):
        entries.append(("sparse_rt dense", result["sparse_rt_dense"]))
    entries += [(k, v) for k, v in result["baselines"].items() if "noisy" in v]
    from .timing import NOISY_CV

    for name, e in entries:
        if e.get("noisy"):
            out.append(f"{name}: " + NOISY_WARNING.format(NOISY_CV))
    return out


def _formats(flops: ModelFlops) -> dict:
    counts: dict = {}
    for layer in flops.weighted:
        counts[layer.format] = counts.get(layer.format, 0) + 1
    return counts


def _finish(result: dict, flops: ModelFlops, baseline_dense: int, batch: int) -> dict:
    useful = flops.useful(batch)
    result["flops"] = {**flops.as_dict(batch), "baseline_dense": baseline_dense,
                       "theoretical_speedup": theoretical_speedup(baseline_dense, useful)}
    result["speedup"] = _speedups(result)
    result["warnings"] = _warnings(result)
    return result


def bench_reference(name: str, pattern="unstructured", sparsity: float | None = None,
                    opts: BenchOptions | None = None, *, dense_cache: dict | None = None) -> dict:
    """Prune reference model ``name`` with ``pattern`` to ``sparsity``, export, run and time it
    against the unpruned model dense in sparse_rt, torch eager (pruned and unpruned), torch
    CSR for linear layers and ONNX Runtime. Pairs whose ratio is reported (pruned vs dense in
    sparse_rt, pruned vs unpruned in torch) are timed side by side in alternating blocks.
    ``dense_cache`` (a dict) lets a sweep export and load the dense model once."""
    import torch

    opts = opts or BenchOptions()
    pattern = parse_pattern(pattern)
    if sparsity is None:
        sparsity = pattern.fixed_sparsity if pattern.kind == "n:m" else 0.9
    sparsity = check_sparsity(sparsity)
    if pattern.kind == "n:m" and abs(sparsity - pattern.fixed_sparsity) > 1e-9:
        raise ValueError(f"pattern {pattern.label} prunes exactly {pattern.fixed_sparsity:g} of "
                         f"each pruned layer; sparsity {sparsity!r} disagrees")
    model, shape = build_reference(name, input_size=opts.input_size, seed=opts.seed,
                                   model_kwargs=opts.model_kwargs)
    with fixed_threads(opts.threads) as threads, tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(threads)
        pruned, info = prune_reference(model, pattern, sparsity, shape, match=opts.match,
                                       channel_amount=opts.channel_amount, scope=opts.scope,
                                       progress=opts.progress)
        path = opts.save or os.path.join(tmp, "pruned.sprt")
        export_file(pruned, shape, opts.batch, path, opts)
        x = _input(shape, opts.batch, opts.seed)
        flops = model_flops(path)
        result = {"schema": SCHEMA, "model": name, "source": "reference",
                  "input_shape": [opts.batch, *shape], "batch": opts.batch, "threads": threads,
                  "pruning": info, "export": {"format": opts.format, "measured": opts.measure,
                                              "file_bytes": os.path.getsize(path),
                                              "formats": _formats(flops)},
                  "environment": environment(threads)}
        key = (name, tuple(shape), opts.batch, threads, opts.seed,
               tuple(sorted(opts.model_kwargs.items())))
        own_cache = dense_cache is None
        dense_cache = {} if own_cache else dense_cache
        if key not in dense_cache:  # the unpruned model, every layer dense: exported once
            where = tmp
            if not own_cache:  # kept for the caller's later calls; removed at exit
                where = tempfile.mkdtemp(prefix="sparse_rt_bench_")
                atexit.register(shutil.rmtree, where, ignore_errors=True)
            dpath = os.path.join(where, "dense.sprt")
            export_file(model, shape, opts.batch, dpath, opts, format="dense")
            dflops = model_flops(dpath)
            dense_cache[key] = (load_runtime(dpath), dflops)
        dense_rt, dflops = dense_cache[key]
        baseline_dense = dflops.dense(opts.batch)
        rt_model = load_runtime(path)
        rt_model(x)
        dense_rt(x)
        # the pruned and the dense model side by side, sparse_rt first: torch and ONNX Runtime
        # start their own thread pools later
        t, dt = opts.timing.time_side_by_side([lambda: rt_model(x), lambda: dense_rt(x)])
        result["sparse_rt"] = _entry(t, opts.batch, flops.useful(opts.batch))
        result["sparse_rt_dense"] = _entry(dt, opts.batch, dflops.useful(opts.batch))
        if opts.per_layer:
            result["per_layer"] = per_layer(rt_model, path, x, flops, opts.timing, tmp)

        baselines = {}
        if opts.torch:
            tv = torch.__version__
            same = pattern.kind != "channel" and sparsity == 0 and pattern.kind != "n:m"
            xt = torch.from_numpy(x)
            with torch.inference_mode():
                if same:
                    tp = td = opts.timing.time(lambda: model(xt))
                else:
                    tp, td = opts.timing.time_side_by_side([lambda: pruned(xt), lambda: model(xt)])
            baselines["torch_eager_dense"] = _entry(td, opts.batch,
                                                    name=f"torch {tv} eager, unpruned model",
                                                    version=tv)
            baselines["torch_eager"] = (baselines["torch_eager_dense"] if same else
                                        _entry(tp, opts.batch, version=tv,
                                               name=f"torch {tv} eager, this pruned model"))
            linear_share = (sum(lf.useful_flops for lf in flops.weighted if lf.op == "linear")
                            / max(1, flops.useful()))
            use_csr = opts.torch_csr == "on" or (opts.torch_csr == "auto" and linear_share >= 0.5)
            if use_csr:
                csr_model, replaced = torch_csr_model(pruned)
                if replaced:
                    baselines["torch_csr"] = _entry(
                        time_torch(csr_model, x, opts.timing), opts.batch,
                        name=f"torch {tv} CSR (int32 indices) for {len(replaced)} linear layers",
                        version=tv, layers=replaced)
            if opts.onnx and onnxruntime_available():
                ot, ov = time_onnxruntime(pruned, x, threads, opts.timing, tmp)
                baselines["onnxruntime"] = _entry(ot, opts.batch, version=ov,
                                                  name=f"ONNX Runtime {ov} (CPU), dense")
        result["baselines"] = baselines
        return _finish(result, flops, baseline_dense, opts.batch)


def bench_file(path, opts: BenchOptions | None = None, *, baseline=None) -> dict:
    """Time a model file against the same file with every weight dense, in sparse_rt.

    ``baseline``: the unpruned model's file, whose dense FLOPs give the theoretical speedup
    (needed for channel-pruned files); default: this file's own dense FLOPs."""
    opts = opts or BenchOptions()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"model file {path!r} does not exist")
    mf = read_model(path)
    if len(mf.inputs) != 1:
        raise ValueError(f"{path!r} has {len(mf.inputs)} inputs; bench takes one-input models")
    shape = tuple(mf.inputs[0][1][1:])
    flops = model_flops(mf)
    baseline_dense = (model_flops(baseline).dense(opts.batch) if baseline is not None
                      else flops.dense(opts.batch))
    with fixed_threads(opts.threads) as threads, tempfile.TemporaryDirectory() as tmp:
        x = _input(shape, opts.batch, opts.seed)
        result = {"schema": SCHEMA, "model": path, "source": "file",
                  "input_shape": [opts.batch, *shape], "batch": opts.batch, "threads": threads,
                  "pruning": {"pattern": None, "sparsity": None,
                              "baseline": os.fspath(baseline) if baseline else None},
                  "export": {"format": None, "measured": None, "file_bytes": os.path.getsize(path),
                             "formats": _formats(flops)},
                  "environment": environment(threads)}
        dense_src = baseline if baseline is not None else path
        dpath = densify_file(dense_src, os.path.join(tmp, "dense.sprt"))
        rt_model, dense_rt = load_runtime(path), load_runtime(dpath)
        rt_model(x)
        dense_rt(x)
        t, dt = opts.timing.time_side_by_side([lambda: rt_model(x), lambda: dense_rt(x)])
        result["sparse_rt"] = _entry(t, opts.batch, flops.useful(opts.batch))
        result["sparse_rt_dense"] = _entry(dt, opts.batch, model_flops(dpath).useful(opts.batch))
        if opts.per_layer:
            result["per_layer"] = per_layer(rt_model, path, x, flops, opts.timing, tmp)
        result["baselines"] = {}  # torch baselines need the torch model: use a reference name
        return _finish(result, flops, baseline_dense, opts.batch)
