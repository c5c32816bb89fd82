"""``sparse-rt bench`` and ``sparse-rt compare`` (registered by the top-level ``sparse_rt.cli``).

torch, matplotlib and tqdm are imported only when a command runs.
"""

from __future__ import annotations

import json
import math
import os

from .timing import NOISY_CV


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return v


def _add_common(p, *, min_time: float) -> None:
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for sparse_rt, torch and ONNX Runtime (default: sparse_rt's "
                        "setting, i.e. physical cores or SPARSE_RT_NUM_THREADS)")
    p.add_argument("--input-size", type=int, default=None,
                   help="image side for models that take one (default 224; vgg_small 32)")
    p.add_argument("--format", default="auto", help="export storage: auto (measured per layer, "
                   "default), dense, csr or bsr")
    p.add_argument("--no-measure", dest="measure", action="store_false",
                   help="export chooses formats by a density threshold instead of timing them")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the exporter's check of the file against torch")
    p.add_argument("--match", default="flops", help="channel pruning matched to the same "
                   "remaining FLOPs (default) or parameter count as weight pruning: flops|params")
    p.add_argument("--scope", default="layer", help="unstructured pattern: the same sparsity in "
                   "every pruned layer (layer, default) or one global magnitude threshold "
                   "(global; on random weights it empties whole layers)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="do not time torch eager")
    p.add_argument("--torch-csr", default="auto", help="also time torch with its own CSR for "
                   "linear layers: auto (when linear layers do >= half the useful FLOPs), on, off")
    p.add_argument("--no-onnx", dest="onnx", action="store_false",
                   help="do not time ONNX Runtime (timed by default when importable)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up runs (default 3)")
    p.add_argument("--min-runs", type=int, default=10, help="timed runs at least (default 10)")
    p.add_argument("--min-time", type=float, default=min_time,
                   help=f"seconds of timed runs at least, per measurement (default {min_time})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and input")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="benchmark one model: latency, speedups, theoretical vs actual",
        description="Time one model with sparse_rt against the same model dense in sparse_rt "
                    "and against torch eager (and ONNX Runtime when installed), in one run. "
                    "MODEL is a .sprt file or a reference model name: "
                    "resnet18, resnet50, mobilenet_v1, mobilenet_v2, vgg_small, digits_mlp, "
                    "digits_cnn (random weights pruned to --sparsity with --pattern).")
    p.add_argument("model", help="a .sprt file or a reference model name")
    p.add_argument("--sparsity", type=float, default=None,
                   help="fraction of weights (or, for channel, of FLOPs/params: see --match) "
                        "to remove (default 0.9; N:M: 1-N/M)")
    p.add_argument("--pattern", default="unstructured",
                   help="unstructured (magnitude, see --scope), block:RxC, N:M (e.g. 2:4), channel")
    p.add_argument("--channel-amount", type=float, default=None,
                   help="channel pattern: remove this fraction of each channel group instead of "
                        "matching --sparsity")
    p.add_argument("--baseline", default=None,
                   help="with a .sprt MODEL: the unpruned model's file (dense FLOPs and the dense "
                        "sparse_rt time come from it; needed for channel-pruned files)")
    p.add_argument("--per-layer", action="store_true",
                   help="add each layer's time, format and kernel")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--save", default=None, help="keep the pruned model file at this path")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars (on stderr)")
    _add_common(p, min_time=1.0)
    p.set_defaults(func=_cmd_bench)

    p = subparsers.add_parser(
        "compare", help="sweep sparsities x patterns; JSON, CSV, plots and a report",
        description="Prune a reference model to a grid of sparsities with each pattern "
                    "(unstructured, block 4x4, 2:4, channel matched by FLOPs or params), "
                    "export, run and measure. Writes results.json, results.csv, PNG plots and "
                    "report.md to --out.")
    p.add_argument("model", help="a reference model name")
    p.add_argument("--sparsities", default=None,
                   help="comma-separated grid (default 0.5,0.7,0.9; --full: "
                        "0.3,0.5,0.6,0.7,0.8,0.9,0.95,0.97)")
    p.add_argument("--patterns", default=None,
                   help="comma-separated (default unstructured,block:4x4,2:4,channel; --full adds "
                        "block:8x1)")
    p.add_argument("--full", action="store_true", help="the whole grid (takes much longer)")
    p.add_argument("--out", default="sparse_rt_compare", help="output directory")
    p.add_argument("--no-per-layer", dest="per_layer", action="store_false",
                   help="skip per-layer timing (done for dense and each pattern's top sparsity)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars")
    _add_common(p, min_time=0.5)
    p.set_defaults(func=_cmd_compare)


def _options(args, **extra):
    from .model_bench import BenchOptions, TimingOptions

    if args.min_time < 0:
        raise ValueError(f"--min-time must be >= 0, got {args.min_time!r}")
    timing = TimingOptions(warmup=args.warmup, min_runs=args.min_runs, min_seconds=args.min_time)
    return BenchOptions(batch=args.batch, threads=args.threads, input_size=args.input_size,
                        format=args.format, measure=args.measure, verify=args.verify,
                        match=args.match, scope=args.scope, torch=args.torch, torch_csr=args.torch_csr,
                        onnx=args.onnx, seed=args.seed, timing=timing, **extra)


def _is_file(model: str) -> bool:
    return model.endswith(".sprt") or os.path.sep in model or os.path.isfile(model)


def _cmd_bench(args) -> int:
    from .model_bench import bench_file, bench_reference

    if _is_file(args.model):
        given = [name for name, v in (("--sparsity", args.sparsity),
                                      ("--channel-amount", args.channel_amount)) if v is not None]
        if args.pattern != "unstructured":
            given.append("--pattern")
        if given:
            raise ValueError(f"{', '.join(given)} apply to reference model names, not to the "
                             f"file {args.model!r}")
        opts = _options(args, per_layer=args.per_layer, progress=args.progress)
        result = bench_file(args.model, opts, baseline=args.baseline)
    else:
        if args.baseline is not None:
            raise ValueError(f"--baseline {args.baseline!r} applies to .sprt files only")
        opts = _options(args, per_layer=args.per_layer, channel_amount=args.channel_amount,
                        save=args.save, progress=args.progress)
        result = bench_reference(args.model, args.pattern, args.sparsity, opts)
    if args.json:
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        print(format_result(result))
    return 0


def _cmd_compare(args) -> int:
    from .compare import DEFAULT_PATTERNS, DEFAULT_SPARSITIES, FULL_PATTERNS, FULL_SPARSITIES
    from .compare import run_compare

    if args.sparsities is not None:
        try:
            sparsities = [float(s) for s in args.sparsities.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--sparsities must be comma-separated numbers, got "
                             f"{args.sparsities!r}") from None
    else:
        sparsities = FULL_SPARSITIES if args.full else DEFAULT_SPARSITIES
    if args.patterns is not None:
        patterns = [p.strip() for p in args.patterns.split(",") if p.strip()]
    else:
        patterns = FULL_PATTERNS if args.full else DEFAULT_PATTERNS
    opts = _options(args, progress=args.progress)
    sweep = run_compare(args.model, sparsities, patterns, opts, out_dir=args.out,
                        per_layer=args.per_layer, progress=args.progress)
    print(sweep["summary_text"])
    print(f"\nwrote {', '.join(sorted(sweep['files']))} to {args.out}")
    return 0


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------------------------
# text output
# --------------------------------------------------------------------------------------------

def _g(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    for prefix in ("", "K", "M", "G", "T"):
        if abs(v) < 1000:
            return f"{v:.3g} {prefix}{unit}".rstrip()
        v /= 1000
    return f"{v:.3g} P{unit}"


def _x(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}x"


def environment_line(env: dict) -> str:
    rt = env["sparse_rt"]
    parts = [f"CPU {rt.get('cpu')}", f"ISA {rt.get('isa')}", f"{env['threads']} threads",
             f"sparse_rt {rt.get('version')}"]
    if env.get("git_commit"):
        parts[-1] += f" ({env['git_commit']})"
    for k in ("torch", "onnxruntime"):
        if env.get(k):
            parts.append(f"{k} {env[k]}")
    if env.get("load_average"):
        parts.append(f"load average {env['load_average'][0]:.1f} on {env.get('cpu_count')} CPUs")
    parts.append(env["date"])
    return ", ".join(parts)


def format_result(r: dict) -> str:
    lines = []
    p = r["pruning"]
    fl = r["flops"]
    if r["source"] == "reference":
        what = f"{p['pattern']} {p['sparsity']:.0%}"
        if p.get("channel_amount") is not None and p["pattern"] == "channel":
            what += f" (channel amount {p['channel_amount']:.3f}"
            what += f", matched by {p['match']})" if p.get("match") else ")"
        head = f"{r['model']}, {what}"
    else:
        head = r["model"]
    lines.append(f"sparse-rt bench: {head}; input {r['input_shape']}; conv/linear weights "
                 f"{fl['weight_sparsity']:.1%} zero; formats {r['export']['formats']}")
    lines.append(environment_line(r["environment"]))
    lines.append("")
    rows = [("runtime", "median ms", "p90 ms", "std ms", "runs", "items/s", "sparse_rt is")]
    s = r["sparse_rt"]

    def row(name, e):
        return (name, f"{e['median_ms']:.3f}", f"{e['p90_ms']:.3f}", f"{e['std_ms']:.3f}",
                str(e["runs"]), f"{e['throughput_per_s']:.1f}",
                _x(e["median_ms"] / s["median_ms"]) + (" *noisy*" if e.get("noisy") else ""))

    rows.append(row("sparse_rt, this model", s))
    if r.get("sparse_rt_dense"):
        rows.append(row("sparse_rt, unpruned model dense", r["sparse_rt_dense"]))
    for key in ("torch_eager", "torch_eager_dense", "torch_csr", "onnxruntime"):
        e = r["baselines"].get(key)
        if e is None or (key == "torch_eager_dense" and e == r["baselines"].get("torch_eager")):
            continue
        rows.append(row(e.get("name", key), e))
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    for i, x in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(x, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    sp = r["speedup"]
    lines.append("")
    lines.append(f"FLOPs (conv+linear, batch {r['batch']}): unpruned dense {_g(fl['baseline_dense'])}"
                 f", this model dense {_g(fl['dense'])}, useful {_g(fl['useful'])}"
                 f" (elementwise/pool {_g(fl['other'])}, not counted); useful throughput "
                 f"{_g(s.get('useful_gflops_per_s'), 'GFLOP/s')}")
    realised = sp.get("realised")
    lines.append(f"speedup: theoretical {_x(sp['theoretical'])}; actual {_x(sp['vs_sparse_rt_dense'])}"
                 f" vs sparse_rt dense"
                 + (f" ({realised:.0%} of theoretical realised)" if realised is not None else "")
                 + (f", {_x(sp['vs_torch'])} vs torch eager" if sp.get("vs_torch") else "")
                 + (f", {_x(sp['vs_onnxruntime'])} vs ONNX Runtime"
                    if sp.get("vs_onnxruntime") else ""))
    if "per_layer" in r:
        lines.append("")
        lines.append(format_layers(r["per_layer"], s["median_ms"]))
    for w in r.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def format_layers(pl: dict, total_ms: float) -> str:
    rows = [("layer", "op", "format", "kernel", "ms", "% total", "density", "useful GFLOP/s")]
    for layer in pl["layers"]:
        name = "+".join([layer["name"], *layer.get("fused", [])])
        ms = layer["median_ms"]
        gf = layer["useful_flops"] / (ms * 1e6) if ms and layer["useful_flops"] else None
        rows.append((name, layer["op"], str(layer["format"] or ""), str(layer["kernel"] or "-"),
                     f"{ms:.4f}", f"{100 * ms / total_ms:.1f}",
                     "" if layer["density"] is None else f"{layer['density']:.3f}",
                     "" if gf is None else f"{gf:.1f}"))
    widths = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    out = [f"per layer ({pl['method']}):"]
    for x in rows:
        out.append("  ".join(c.ljust(w) if j < 4 else c.rjust(w)
                             for j, (c, w) in enumerate(zip(x, widths))))
    return "\n".join(out)


__all__ = ["register", "format_result", "format_layers", "NOISY_CV"]
