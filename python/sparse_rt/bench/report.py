"""Outputs of a sweep: results.json, results.csv, PNG plots (matplotlib, no display needed) and
report.md, which states the answer in words.

Words used in the report:

* a pattern **pays** at a sparsity when the pruned model runs at least ``PAYS`` (5%, above
  timing noise) faster than the unpruned model dense in sparse_rt (and, separately, than torch
  eager on the unpruned model); "starts to pay" is the lowest grid sparsity from which it pays
  at every higher grid sparsity;
* **at equal FLOPs** compares patterns at the same theoretical speedup (dense FLOPs / useful
  FLOPs): actual speedup is interpolated (log-log, no extrapolation) at common theoretical
  speedups, and the fastest pattern is named for each.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

PAYS = 1.05
CSV_FIELDS = (
    "model", "pattern", "sparsity", "batch", "threads", "weight_sparsity", "channel_amount",
    "median_ms", "p90_ms", "std_ms", "spread", "noisy", "runs", "dense_ms", "torch_ms",
    "torch_dense_ms", "torch_csr_ms", "onnxruntime_ms", "speedup_vs_sparse_rt_dense",
    "speedup_vs_torch", "speedup_vs_torch_dense", "theoretical_speedup", "realised",
    "useful_flops", "dense_flops", "baseline_dense_flops", "useful_gflops_per_s", "formats",
)


def _ms(entry):
    return None if not entry or "median_ms" not in entry else entry["median_ms"]


def rows(sweep: dict) -> list:
    """One flat dict per measured point (the CSV rows)."""
    out = []
    for r in sweep["results"]:
        p, fl, sp, b = r["pruning"], r["flops"], r["speedup"], r["baselines"]
        s = r["sparse_rt"]
        td = _ms(b.get("torch_eager_dense"))
        out.append({
            "model": r["model"], "pattern": p["pattern"], "sparsity": p["sparsity"],
            "batch": r["batch"], "threads": r["threads"],
            "weight_sparsity": fl["weight_sparsity"], "channel_amount": p.get("channel_amount"),
            "median_ms": s["median_ms"], "p90_ms": s["p90_ms"], "std_ms": s["std_ms"],
            "spread": s.get("spread"), "noisy": s["noisy"], "runs": s["runs"],
            "dense_ms": _ms(r.get("sparse_rt_dense")), "torch_ms": _ms(b.get("torch_eager")),
            "torch_dense_ms": td, "torch_csr_ms": _ms(b.get("torch_csr")),
            "onnxruntime_ms": _ms(b.get("onnxruntime")),
            "speedup_vs_sparse_rt_dense": sp["vs_sparse_rt_dense"],
            "speedup_vs_torch": sp["vs_torch"],
            "speedup_vs_torch_dense": td / s["median_ms"] if td else None,
            "theoretical_speedup": fl["theoretical_speedup"], "realised": sp["realised"],
            "useful_flops": fl["useful"], "dense_flops": fl["dense"],
            "baseline_dense_flops": fl["baseline_dense"],
            "useful_gflops_per_s": s.get("useful_gflops_per_s"),
            "formats": " ".join(f"{k}:{v}" for k, v in sorted(r["export"]["formats"].items())),
        })
    return out


def _by_pattern(rs: list) -> dict:
    out: dict = {}
    for r in rs:
        if r["pattern"] != "dense":
            out.setdefault(r["pattern"], []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r["sparsity"])
    return out


def _starts_to_pay(points: list, key: str):
    """Lowest sparsity from which every higher grid point pays (speedup >= PAYS)."""
    start = None
    for r in reversed(points):
        v = r[key]
        if v is not None and v >= PAYS:
            start = r["sparsity"]
        else:
            break
    return start


def _interp(points: list, theo: float):
    xs = [math.log(r["theoretical_speedup"]) for r in points
          if r["theoretical_speedup"] and math.isfinite(r["theoretical_speedup"])]
    ys = [math.log(r["speedup_vs_sparse_rt_dense"]) for r in points
          if r["theoretical_speedup"] and math.isfinite(r["theoretical_speedup"])]
    if not xs:
        return None
    order = np.argsort(xs)
    xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
    x = math.log(theo)
    if x < xs[0] - 1e-9 or x > xs[-1] + 1e-9:
        return None
    return float(math.exp(np.interp(x, xs, ys)))


def analyse(sweep: dict) -> dict:
    """Where each pattern starts to pay, its best point, and the fastest pattern at equal FLOPs."""
    rs = rows(sweep)
    per = _by_pattern(rs)
    patterns = {}
    for name, pts in per.items():
        best = max(pts, key=lambda r: r["speedup_vs_sparse_rt_dense"] or 0)
        realised = [r["realised"] for r in pts if r["realised"] is not None]
        patterns[name] = {
            "pays_vs_sparse_rt_dense_from": _starts_to_pay(pts, "speedup_vs_sparse_rt_dense"),
            "pays_vs_torch_from": _starts_to_pay(pts, "speedup_vs_torch_dense"),
            "best_speedup": best["speedup_vs_sparse_rt_dense"], "best_at": best["sparsity"],
            "best_theoretical": best["theoretical_speedup"],
            "mean_realised": float(np.mean(realised)) if realised else None,
        }
    at_sparsity = {}
    for s in sorted({r["sparsity"] for r in rs if r["pattern"] != "dense"}):
        pts = [r for r in rs if r["pattern"] != "dense" and r["sparsity"] == s]
        if len(pts) > 1:
            win = max(pts, key=lambda r: r["speedup_vs_sparse_rt_dense"] or 0)
            at_sparsity[str(s)] = {"fastest": win["pattern"],
                                   "points": {r["pattern"]: {
                                       "speedup": r["speedup_vs_sparse_rt_dense"],
                                       "theoretical": r["theoretical_speedup"]} for r in pts}}
    equal_flops = {}
    for theo in (1.5, 2.0, 3.0, 5.0, 8.0, 12.0):
        vals = {name: _interp(pts, theo) for name, pts in per.items()}
        vals = {k: v for k, v in vals.items() if v is not None}
        if len(vals) >= 2:
            equal_flops[str(theo)] = {"fastest": max(vals, key=vals.get), "speedups": vals}
    return {"pays_threshold": PAYS, "patterns": patterns, "at_sparsity": at_sparsity,
            "at_equal_theoretical_speedup": equal_flops}


def _pct(s) -> str:
    return f"{100 * s:g}%"


def answer_lines(sweep: dict) -> list:
    """The answer in words, one sentence per line."""
    a = sweep.get("analysis") or analyse(sweep)
    lines = []
    for name, p in a["patterns"].items():
        start = p["pays_vs_sparse_rt_dense_from"]
        vs_t = p["pays_vs_torch_from"]
        if start is None:
            s = (f"**{name}** does not pay at any sparsity of the grid: at best "
                 f"{p['best_speedup']:.2f}x the dense model in sparse_rt (at {_pct(p['best_at'])}, "
                 f"theoretical {p['best_theoretical']:.2f}x).")
        else:
            s = (f"**{name}** starts to pay at {_pct(start)} sparsity; at best "
                 f"{p['best_speedup']:.2f}x the dense model in sparse_rt (at {_pct(p['best_at'])}, "
                 f"theoretical {p['best_theoretical']:.2f}x).")
        if vs_t is not None:
            s += f" Against torch eager (unpruned) it pays from {_pct(vs_t)}."
        elif sweep["results"][0]["baselines"].get("torch_eager_dense"):
            s += " It is not faster than torch eager (unpruned) anywhere on the grid."
        if p["mean_realised"] is not None:
            s += f" On average it realises {p['mean_realised']:.0%} of its theoretical speedup."
        lines.append(s)
    eq = a["at_equal_theoretical_speedup"]
    if eq:
        parts = [f"{theo}x: **{v['fastest']}** ({v['speedups'][v['fastest']]:.2f}x)"
                 for theo, v in eq.items()]
        lines.append("At equal FLOPs (interpolated at the same theoretical speedup), the fastest "
                     "pattern is " + "; ".join(parts) + ".")
        wins: dict = {}
        for v in eq.values():
            wins[v["fastest"]] = wins.get(v["fastest"], 0) + 1
        lines.append(f"Overall, **{max(wins, key=wins.get)}** gives the most speed at equal "
                     "FLOPs on this model and machine.")
    for s, v in a["at_sparsity"].items():
        pts = ", ".join(f"{k} {d['speedup']:.2f}x (theoretical {d['theoretical']:.2f}x)"
                        for k, d in sorted(v["points"].items(),
                                           key=lambda kv: -(kv[1]["speedup"] or 0)))
        lines.append(f"At {_pct(float(s))}: {pts}.")
    return lines


def summary_text(sweep: dict) -> str:
    rs = rows(sweep)
    head = ("pattern", "sparsity", "median ms", "p90 ms", "vs dense", "vs torch", "theoretical",
            "realised")
    table = [head]
    for r in rs:
        table.append((r["pattern"], f"{r['sparsity']:.2f}", f"{r['median_ms']:.3f}",
                      f"{r['p90_ms']:.3f}", _xf(r["speedup_vs_sparse_rt_dense"]),
                      _xf(r["speedup_vs_torch_dense"]), _xf(r["theoretical_speedup"]),
                      "-" if r["realised"] is None else f"{r['realised']:.0%}"))
    w = [max(len(t[i]) for t in table) for i in range(len(head))]
    lines = [f"{sweep['model']}, input {sweep['input_shape']}, {sweep['threads']} threads"]
    lines += ["  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(t))
              for t in table]
    lines.append("")
    lines += [ln.replace("**", "") for ln in answer_lines(sweep)]
    return "\n".join(lines)


def _xf(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}x"


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def write_json(sweep: dict, path: str) -> None:
    data = {k: v for k, v in sweep.items() if k not in ("files", "summary_text")}
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)


def write_csv(sweep: dict, path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows(sweep):
            w.writerow(r)


def _figure(w, h):
    from matplotlib.figure import Figure  # no pyplot: no display or backend needed

    return Figure(figsize=(w, h), dpi=110)


def plot_speedup_vs_sparsity(sweep: dict, path: str) -> None:
    rs = rows(sweep)
    fig = _figure(10, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    for name, pts in _by_pattern(rs).items():
        xs = [100 * r["sparsity"] for r in pts]
        ax1.plot(xs, [r["speedup_vs_sparse_rt_dense"] for r in pts], "o-", label=name)
        if any(r["speedup_vs_torch_dense"] for r in pts):
            ax2.plot(xs, [r["speedup_vs_torch_dense"] for r in pts], "o-", label=name)
    for ax, what in ((ax1, "dense model in sparse_rt"), (ax2, "torch eager, unpruned")):
        ax.axhline(1.0, color="grey", lw=1, ls="--")
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel(f"speedup over {what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{sweep['model']}, input {sweep['input_shape']}, {sweep['threads']} threads")
    fig.tight_layout()
    fig.savefig(path)


def plot_actual_vs_theoretical(sweep: dict, path: str) -> None:
    rs = rows(sweep)
    fig = _figure(5.5, 5)
    ax = fig.subplots()
    hi = 1.0
    for name, pts in _by_pattern(rs).items():
        pts = [r for r in pts if math.isfinite(r["theoretical_speedup"])]
        ax.plot([r["theoretical_speedup"] for r in pts],
                [r["speedup_vs_sparse_rt_dense"] for r in pts], "o-", label=name)
        hi = max([hi] + [r["theoretical_speedup"] for r in pts])
    ax.plot([1, hi], [1, hi], color="grey", ls="--", lw=1, label="ideal (actual = theoretical)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("theoretical speedup (dense FLOPs / useful FLOPs)")
    ax.set_ylabel("actual speedup over dense sparse_rt")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(f"{sweep['model']}: actual vs theoretical")
    fig.tight_layout()
    fig.savefig(path)


def _per_layer_sets(sweep: dict) -> list:
    out = []
    for r in sweep["results"]:
        if "per_layer" in r:
            p = r["pruning"]
            label = "dense" if p["pattern"] == "dense" else f"{p['pattern']} {_pct(p['sparsity'])}"
            out.append((label, r["per_layer"]["layers"]))
    return out


def plot_per_layer(sweep: dict, path: str) -> bool:
    sets = _per_layer_sets(sweep)
    if not sets:
        return False
    names = [layer["name"] for layer in sets[0][1]]
    n, k = len(names), len(sets)
    fig = _figure(9, max(3.0, 0.22 * n * max(1, k / 2) + 1.2))
    ax = fig.subplots()
    height = 0.8 / k
    y = np.arange(n)
    for i, (label, layers) in enumerate(sets):
        ms = {layer["name"]: layer["median_ms"] for layer in layers}
        ax.barh(y + i * height, [ms.get(nm, 0.0) for nm in names], height=height, label=label)
    ax.set_yticks(y + 0.4 - height / 2)
    ax.set_yticklabels(names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("ms per batch")
    ax.legend(fontsize=7)
    ax.set_title(f"{sweep['model']}: per-layer time")
    fig.tight_layout()
    fig.savefig(path)
    return True


def _md_table(header, body) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return out


def write_markdown(sweep: dict, path: str, images: list) -> None:
    env = sweep["environment"]
    rt = env["sparse_rt"]
    rs = rows(sweep)
    b0 = sweep["results"][0]["baselines"]
    lines = [f"# sparse_rt compare: {sweep['model']}", "",
             f"Input {sweep['input_shape']} (batch {sweep['batch']}), {sweep['threads']} threads, "
             f"{env['date']}. CPU {rt.get('cpu')}, ISA path {rt.get('isa')}, sparse_rt "
             f"{rt.get('version')}" + (f" (commit {env['git_commit']})" if env.get("git_commit")
                                       else "")
             + f", torch {env.get('torch')}, ONNX Runtime {env.get('onnxruntime') or 'not installed'}.",
             "", "## The answer", ""]
    lines += [f"- {s}" for s in answer_lines(sweep)]
    lines += ["", "## Results", "",
              "Speedups are over the unpruned model with every layer dense, in sparse_rt "
              "(\"vs dense\") and in torch eager (\"vs torch\"), measured in this run. "
              "Theoretical = dense FLOPs of the unpruned model / useful FLOPs (conv + linear).",
              ""]
    body = []
    for r in rs:
        body.append((r["pattern"], _pct(r["sparsity"]), f"{r['weight_sparsity']:.1%}",
                     f"{r['median_ms']:.3f}", f"{r['p90_ms']:.3f}",
                     _xf(r["speedup_vs_sparse_rt_dense"]), _xf(r["speedup_vs_torch_dense"]),
                     _xf(r["theoretical_speedup"]),
                     "-" if r["realised"] is None else f"{r['realised']:.0%}",
                     "noisy" if r["noisy"] else "", r["formats"]))
    lines += _md_table(("pattern", "sparsity", "weights zero", "median ms", "p90 ms", "vs dense",
                        "vs torch", "theoretical", "realised", "", "formats"), body)
    lines.append("")
    base = []
    if rs:
        base.append(("sparse_rt, dense", f"{rs[0]['dense_ms']:.3f}", f"sparse_rt {rt.get('version')}"))
    for key in ("torch_eager_dense", "onnxruntime"):
        if key in b0:
            base.append((b0[key]["name"], f"{b0[key]['median_ms']:.3f}", b0[key].get("version")))
    if base:
        lines += ["Baselines (unpruned model):", ""]
        lines += _md_table(("runtime", "median ms", "version"), base)
        lines.append("")
    chan = [r for r in sweep["results"] if r["pruning"]["pattern"] == "channel"]
    if chan:
        lines.append(f"Channel points remove a fraction of every channel group (L1 filter norm, "
                     f"`prune.channels`), found by bisection so the smaller model's "
                     f"{sweep['match']} match those left by pruning the same fraction of every "
                     f"prunable layer: amounts "
                     + ", ".join(f"{_pct(r['pruning']['sparsity'])} → "
                                 f"{r['pruning'].get('channel_amount', 0):.3f}" for r in chan)
                     + ".")
        lines.append("")
    for img in images:
        lines += [f"![{img}]({img})", ""]
    lines += ["Files: results.json (every measurement, with spreads and the environment), "
              "results.csv (one row per point).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_all(sweep: dict, out_dir: str, *, progress: bool = False) -> list:
    """Write every output file; returns their names."""
    os.makedirs(out_dir, exist_ok=True)
    files = ["results.json", "results.csv"]
    write_json(sweep, os.path.join(out_dir, "results.json"))
    write_csv(sweep, os.path.join(out_dir, "results.csv"))
    images = ["speedup_vs_sparsity.png", "actual_vs_theoretical.png"]
    plot_speedup_vs_sparsity(sweep, os.path.join(out_dir, images[0]))
    plot_actual_vs_theoretical(sweep, os.path.join(out_dir, images[1]))
    if plot_per_layer(sweep, os.path.join(out_dir, "per_layer.png")):
        images.append("per_layer.png")
    write_markdown(sweep, os.path.join(out_dir, "report.md"), images)
    return files + images + ["report.md"]
