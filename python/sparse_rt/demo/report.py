"""Outputs: runs.csv / runs.json, PNG plots, report.md, the terminal table and the answer in words.

Everything here reads the row dicts of :mod:`study` and :mod:`speed`; nothing is measured here.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
from collections import defaultdict

import numpy as np

from .config import METHODS
from .study import COLUMNS, mean_std

MODEL_TITLES = {"mlp": "MLP (LeNet-300-100 shape)", "cnn": "small CNN"}
TARGET_SPARSITY = 0.9
TARGET_UNSTRUCTURED_PP = 0.5
TARGET_CHANNELS_PP = 1.5


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------

def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (model, method, requested sparsity) of the grid runs, plus
    one "dense" entry per model."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["study"] in ("grid", "dense"):
            groups[(r["model"], r["method"], r["sparsity_requested"])].append(r)
    out = []
    for (model, method, sparsity), rs in groups.items():
        entry = {"model": model, "method": method, "label": rs[0]["label"],
                 "pattern": rs[0]["pattern"], "schedule": rs[0]["schedule"],
                 "retraining": rs[0]["retraining"], "sparsity_requested": sparsity,
                 "seeds": len(rs), "noisy": any(r.get("noisy_timing") for r in rs)}
        for key in ("sparsity_achieved", "accuracy", "accuracy_dense", "accuracy_drop_pp",
                    "speedup_b1", "speedup_test", "speedup_vs_torch_b1",
                    "speedup_vs_torch_test", "flop_speedup", "latency_b1_ms",
                    "latency_test_ms", "file_bytes"):
            entry[key], entry[key + "_std"] = mean_std(r[key] for r in rs)
        out.append(entry)
    return out


def _find(agg, model, method, sparsity):
    for a in agg:
        if a["model"] == model and a["method"] == method and _close(a["sparsity_requested"],
                                                                       sparsity):
            return a
    return None


def _close(a, b) -> bool:
    return a is not None and b is not None and abs(a - b) < 1e-9


def _headline_sparsity(agg, model) -> float | None:
    """0.9 if it was run, else the grid sparsity closest to it (fixed-sparsity methods such as
    2:4 count only when nothing else ran)."""
    runs = [a for a in agg if a["model"] == model and a["method"] != "dense"]
    values = sorted({a["sparsity_requested"] for a in runs
                     if METHODS[a["method"]].fixed_sparsity is None})
    if not values:  # only fixed-sparsity methods (2:4) ran
        values = sorted({a["sparsity_requested"] for a in runs})
    if not values:
        return None
    return min(values, key=lambda s: (abs(s - TARGET_SPARSITY), -s))


# ---------------------------------------------------------------------------------------------
# quality targets and the answer in words
# ---------------------------------------------------------------------------------------------

def quality_targets(rows: list[dict]) -> list[dict]:
    """Measured values for the two quality targets (one entry per model and setting)."""
    agg = aggregate(rows)
    out = []
    for a in agg:
        m = a["method"]
        if m in ("magnitude", "magnitude-global") and a["sparsity_requested"] >= TARGET_SPARSITY:
            out.append({"target": f">= 90% unstructured sparsity, <= {TARGET_UNSTRUCTURED_PP} "
                                  "points loss after fine-tuning",
                        "model": a["model"], "setting": f"{a['label']}, "
                        f"{a['sparsity_achieved']:.1%} sparse",
                        "drop_pp": a["accuracy_drop_pp"], "drop_pp_std": a["accuracy_drop_pp_std"],
                        "seeds": a["seeds"],
                        "met": a["accuracy_drop_pp"] <= TARGET_UNSTRUCTURED_PP})
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["study"] == "target":
            by_model[r["model"]].append(r)
    for model, rs in by_model.items():
        drop, std = mean_std(r["accuracy_drop_pp"] for r in rs)
        chan, _ = mean_std(r["channels_removed"] for r in rs)
        sp, _ = mean_std(r["sparsity_achieved"] for r in rs)
        out.append({"target": f"50% of channels removed, <= {TARGET_CHANNELS_PP} points loss",
                    "model": model, "setting": f"L1 filter, {chan:.0%} of channels removed "
                    f"({sp:.0%} of weights), fine-tuned",
                    "drop_pp": drop, "drop_pp_std": std, "seeds": len(rs),
                    "met": drop <= TARGET_CHANNELS_PP})
    return out


def answer(rows: list[dict], speed_rows: list[dict] | None) -> list[str]:
    """The answer in words: which method keeps accuracy best at 90%, and what speed each
    pattern actually gives against its theoretical FLOP speed-up."""
    agg = aggregate(rows)
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        s = _headline_sparsity(agg, model)
        dense = _find(agg, model, "dense", 0.0)
        if s is None or dense is None:
            continue
        cands = [a for a in agg if a["model"] == model and _close(a["sparsity_requested"], s)
                 and a["method"] != "dense"]
        if not cands:
            continue
        cands.sort(key=lambda a: -a["accuracy"])
        best, worst = cands[0], cands[-1]
        seeds = best["seeds"]
        lines.append(
            f"{MODEL_TITLES.get(model, model)} at {s:.0%} sparsity: {best['label']} keeps accuracy "
            f"best, {_pct(best)} vs {dense['accuracy']:.1%} dense "
            f"({_pp(-best['accuracy_drop_pp'])}; {seeds} seed{'s' if seeds > 1 else ''}, "
            f"accuracy from sparse_rt's outputs); worst: {worst['label']} {_pct(worst)}.")
        parts = []
        for a in cands:
            if METHODS[a["method"]].group != "methods":
                continue
            parts.append(f"{a['label']} {a['speedup_test']:.2f}x (batch 1: "
                         f"{a['speedup_b1']:.2f}x; FLOPs {a['flop_speedup']:.1f}x)"
                         + (" (noisy)" if a["noisy"] else ""))
        lines.append("  Measured speed-up over the dense model in sparse_rt, whole test set "
                     "(450 images) in one batch: " + "; ".join(parts) + ".")
    for r in speed_rows or []:
        if r["pattern"] == "dense":
            continue
        lines.append(
            f"ResNet-50 ({r['image_size']}px, batch {r['batch']}), {r['pattern']} at "
            f"{r['sparsity']:.0%} ({_fmt_formats(r['formats'])}): "
            f"{r['speedup_vs_dense']:.2f}x vs dense in sparse_rt, "
            f"{r['speedup_vs_torch']:.2f}x vs torch eager dense "
            f"(theoretical {r['flop_speedup']:.1f}x)" + (" (noisy)." if r["noisy_timing"]
                                                          else "."))
    return lines


def busy_warning(meta: dict) -> str | None:
    """A warning when the machine was loaded while the demo ran (timings then mean little)."""
    cpus = meta.get("cpus") or 1
    loads = [v for v in (meta.get("load_start"), meta.get("load_end")) if v is not None]
    if loads and max(loads) > cpus:
        return (f"The machine was busy (load average up to {max(loads):.1f} on {cpus} CPUs): "
                "other processes competed for the cores, so the timings (especially with more "
                "than one thread) are unreliable. Rerun on a quiet machine, or with --threads 1, "
                "which suffers less from sharing.")
    return None


def _pct(a) -> str:
    if a["seeds"] > 1:
        return f"{a['accuracy']:.1%} ± {100 * a['accuracy_std']:.1f}"
    return f"{a['accuracy']:.1%}"


def _pp(x: float) -> str:
    return f"{x:+.1f} points"


def _fmt_formats(counts: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------

def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_runs(out: str, rows: list[dict], speed_rows: list[dict] | None, meta: dict) -> dict:
    """runs.csv (part 1, one row per run), speed.csv (part 2) and runs.json (everything)."""
    paths = {"runs.csv": os.path.join(out, "runs.csv"), "runs.json": os.path.join(out, "runs.json")}
    with open(paths["runs.csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS + ("formats",))
        for r in rows:
            fmts = ";".join(f"{k}={v}" for k, v in r.get("formats", {}).items())
            w.writerow([_csv(r.get(c)) for c in COLUMNS] + [fmts])
    if speed_rows:
        paths["speed.csv"] = os.path.join(out, "speed.csv")
        keys = [k for k in speed_rows[0] if k != "formats"]
        with open(paths["speed.csv"], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(keys + ["formats"])
            for r in speed_rows:
                w.writerow([_csv(r[k]) for k in keys] + [_fmt_formats(r["formats"])])
    doc = {"meta": meta, "runs": rows, "speed": speed_rows or [],
           "quality_targets": quality_targets(rows), "answer": answer(rows, speed_rows)}
    with open(paths["runs.json"], "w") as f:
        json.dump(doc, f, indent=1, default=_jsonable)
    return paths


def _csv(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _method_order(agg, group):
    return [m for m in METHODS if METHODS[m].group == group and any(a["method"] == m for a in agg)]


def plot_accuracy_vs_sparsity(agg, models, path, group="methods") -> str | None:
    methods = _method_order(agg, group)
    if group == "schedules" and methods and any(a["method"] == "magnitude-global" for a in agg):
        methods = ["magnitude-global"] + methods
    if not methods:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(max(8.0, 6.2 * len(models)), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        for method in methods:
            pts = sorted((a for a in agg if a["model"] == model and a["method"] == method),
                         key=lambda a: a["sparsity_achieved"])
            if not pts:
                continue
            x = [100 * a["sparsity_achieved"] for a in pts]
            y = [100 * a["accuracy"] for a in pts]
            e = [100 * a["accuracy_std"] for a in pts]
            ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=3, label=METHODS[method].label)
        dense = _find(agg, model, "dense", 0.0)
        if dense:
            ax.axhline(100 * dense["accuracy"], color="k", ls="--", lw=1,
                       label=f"dense {100 * dense['accuracy']:.1f}%")
        ax.set_title(MODEL_TITLES.get(model, model))
        ax.set_xlabel("weights removed (%)")
        ax.set_ylabel("test accuracy from sparse_rt (%)")
        ax.grid(alpha=0.3)
        lo = min([100 * a["accuracy"] for a in agg if a["model"] == model] + [90])
        ax.set_ylim(max(0, lo - 2), 100.5)
    axes[0][-1].legend(fontsize=8, loc="lower left")
    title = ("Accuracy vs sparsity: pruning criteria" if group == "methods"
             else "Accuracy vs sparsity: schedules and retraining (magnitude, global)")
    fig.suptitle(title + " (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy_vs_speedup(agg, models, path) -> str | None:
    methods = _method_order(agg, "methods")
    if not methods:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(max(8.0, 6.2 * len(models)), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        dense = _find(agg, model, "dense", 0.0)
        for method in methods:
            pts = sorted((a for a in agg if a["model"] == model and a["method"] == method),
                         key=lambda a: a["sparsity_achieved"])
            if not pts:
                continue
            x = [a["speedup_test"] for a in pts]
            xe = [a["speedup_test_std"] for a in pts]
            y = [100 * a["accuracy"] for a in pts]
            ye = [100 * a["accuracy_std"] for a in pts]
            line = ax.errorbar(x, y, xerr=xe, yerr=ye, marker="o", ms=4, capsize=2,
                               label=METHODS[method].label)
            for a, xi, yi in zip(pts, x, y):
                ax.annotate(f"{a['sparsity_achieved']:.0%}", (xi, yi), fontsize=6,
                            xytext=(3, 3), textcoords="offset points",
                            color=line[0].get_color())
        if dense:
            ax.errorbar([1.0], [100 * dense["accuracy"]], marker="*", ms=12, color="k",
                        ls="none", label="dense")
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.set_xscale("log")
        _plain_log_ticks(ax)
        ax.set_title(MODEL_TITLES.get(model, model))
        ax.set_xlabel("measured speed-up vs dense in sparse_rt (test set, log)")
        ax.set_ylabel("test accuracy from sparse_rt (%)")
        ax.grid(alpha=0.3, which="both")
        lo = min([100 * a["accuracy"] for a in agg if a["model"] == model] + [90])
        ax.set_ylim(max(0, lo - 2), 100.5)
    axes[0][-1].legend(fontsize=8, loc="lower left")
    fig.suptitle("Accuracy vs measured speed-up (Blalock et al. style; labels: weights removed)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plain_log_ticks(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-9) < 200 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_speed(speed_rows, path) -> str | None:
    if not speed_rows:
        return None
    plt = _pyplot()
    batches = sorted({r["batch"] for r in speed_rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(max(8.0, 7 * len(batches)), 4.6), squeeze=False)
    for ax, b in zip(axes[0], batches):
        rs = [r for r in speed_rows if r["batch"] == b]
        labels = [r["pattern"] + ("" if r["pattern"] == "dense" else f"\n{r['sparsity']:.0%}")
                  for r in rs]
        x = np.arange(len(rs))
        ax.bar(x - 0.2, [r["sparse_rt_ms"] for r in rs], 0.4, label="sparse_rt")
        ax.bar(x + 0.2, [r["torch_ms"] for r in rs], 0.4, label="torch eager",
               color=["#bbbbbb" if r["torch_is_dense_model"] else "#888888" for r in rs])
        for xi, r in zip(x, rs):
            if r["pattern"] != "dense":
                ax.annotate(f"{r['speedup_vs_dense']:.1f}x\n(FLOPs {r['flop_speedup']:.1f}x)",
                            (xi - 0.2, r["sparse_rt_ms"]), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, labels, fontsize=8)
        top = max(max(r["sparse_rt_ms"], r["torch_ms"]) for r in rs)
        ax.set_ylim(0, top * 1.18)
        ax.set_ylabel("latency (ms, median)")
        ax.set_title(f"ResNet-50, {rs[0]['image_size']}x{rs[0]['image_size']}, batch {b}")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Equal FLOPs, different patterns (light torch bars: the dense model)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(out: str, rows: list[dict], speed_rows) -> dict:
    agg = aggregate(rows)
    models = list(dict.fromkeys(r["model"] for r in rows))
    plots = {
        "accuracy_vs_sparsity.png": plot_accuracy_vs_sparsity(
            agg, models, os.path.join(out, "accuracy_vs_sparsity.png")),
        "accuracy_vs_sparsity_schedules.png": plot_accuracy_vs_sparsity(
            agg, models, os.path.join(out, "accuracy_vs_sparsity_schedules.png"), "schedules"),
        "accuracy_vs_speedup.png": plot_accuracy_vs_speedup(
            agg, models, os.path.join(out, "accuracy_vs_speedup.png")),
        "speed_resnet50.png": plot_speed(speed_rows, os.path.join(out, "speed_resnet50.png")),
    }
    return {k: v for k, v in plots.items() if v}


# ---------------------------------------------------------------------------------------------
# report.md and the terminal
# ---------------------------------------------------------------------------------------------

def machine_info() -> dict:
    import sparse_rt

    info = {"sparse_rt": sparse_rt.runtime_info(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - the demo needs torch
        info["torch"] = None
    return info


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_rows(rows: list[dict]) -> list[list[str]]:
    """The terminal/report table: one line per model x method x sparsity (means over seeds)."""
    agg = aggregate(rows)
    order = {m: i for i, m in enumerate(["dense"] + list(METHODS))}
    agg.sort(key=lambda a: (a["model"], order[a["method"]], a["sparsity_requested"]))
    table = []
    for a in agg:
        acc = f"{100 * a['accuracy']:.1f}" + (f" ± {100 * a['accuracy_std']:.1f}"
                                               if a["seeds"] > 1 else "")
        mark = "!" if a["noisy"] else ""
        table.append([a["model"], a["label"], f"{a['sparsity_achieved']:.1%}", acc,
                      f"{-a['accuracy_drop_pp']:+.1f}", f"{a['speedup_b1']:.2f}x{mark}",
                      f"{a['speedup_test']:.2f}x{mark}",
                      f"{a['speedup_vs_torch_test']:.2f}x{mark}",
                      f"{a['flop_speedup']:.1f}x", f"{a['file_bytes'] / 1024:.0f}"])
    return table


SUMMARY_HEADER = ("model", "method", "sparsity", "accuracy %", "Δ points", "speed-up b1",
                  "speed-up test", "vs torch test", "FLOP speed-up", "file KB")
SPEED_HEADER = ("pattern", "sparsity", "batch", "formats", "sparse_rt ms", "torch ms",
                "vs dense", "vs torch", "FLOP speed-up", "file MB")


def speed_table(speed_rows) -> list[list[str]]:
    return [[r["pattern"], f"{r['sparsity']:.0%}", r["batch"], _fmt_formats(r["formats"]),
             f"{r['sparse_rt_ms']:.1f}", f"{r['torch_ms']:.1f}" + (" (dense)" if
                                                                     r["torch_is_dense_model"]
                                                                     else ""),
             f"{r['speedup_vs_dense']:.2f}x" + ("!" if r["noisy_timing"] else ""),
             f"{r['speedup_vs_torch']:.2f}x" + ("!" if r["noisy_timing"] else ""),
             f"{r['flop_speedup']:.1f}x", f"{r['file_bytes'] / 1e6:.1f}"]
            for r in speed_rows]


def write_report(out: str, cfg, rows, speed_rows, plots: dict, meta: dict) -> str:
    info = meta["machine"]
    rt = info["sparse_rt"]
    lines = ["# sparse_rt demo report", ""]
    lines += ["## The answer", ""] + [f"- {s.strip()}" for s in answer(rows, speed_rows)] + [""]
    warning = busy_warning(meta)
    if warning:
        lines += [f"> **Warning.** {warning}", ""]
    targets = quality_targets(rows)
    if targets:
        lines += ["## Quality targets (measured)", "",
                  _md_table(("target", "model", "setting", "accuracy loss (points)", "seeds",
                             "met"),
                            [[t["target"], t["model"], t["setting"],
                              f"{t['drop_pp']:+.2f}" + (f" ± {t['drop_pp_std']:.2f}"
                                                        if t["seeds"] > 1 else ""),
                              t["seeds"], "yes" if t["met"] else "**no**"] for t in targets]),
                  "", "A negative loss means the pruned model scored higher than the dense one "
                  "(each test image is 0.22 points).", ""]
    for name, title in (("accuracy_vs_speedup.png", "Accuracy vs measured speed-up"),
                        ("accuracy_vs_sparsity.png", "Accuracy vs sparsity, per criterion"),
                        ("accuracy_vs_sparsity_schedules.png",
                         "Schedules and retraining (magnitude pruning)"),
                        ("speed_resnet50.png", "Part 2: ResNet-50 at equal FLOPs")):
        if name in plots:
            lines += [f"## {title}", "", f"![{title}]({name})", ""]
    lines += ["## Part 1: every method (mean over seeds)", "",
              _md_table(SUMMARY_HEADER, summary_rows(rows)), "",
              "Speed-ups are against the dense model exported and run by sparse_rt (b1: one "
              "image; test: all 450 test images in one batch) and against torch eager on the "
              "dense model; FLOP speed-up is dense FLOPs / FLOPs left (an upper bound). "
              "`!`: a timing of that row had a spread above 15% (noisy).", ""]
    if speed_rows:
        lines += ["## Part 2: ResNet-50, synthetic weights, equal FLOPs", "",
                  _md_table(SPEED_HEADER, speed_table(speed_rows)), "",
                  "Unstructured and block models are stored in CSR / BSR 4x4, the channel-pruned "
                  "model is physically smaller and dense. '(dense)' torch times are the dense "
                  "model: torch runs masked weights as dense.", ""]
    lines += ["## How it was measured", "",
              "- Data: scikit-learn's bundled digits, fixed stratified split (1,347 train / "
              "450 test), pixels scaled to [0, 1].",
              f"- Dense training: {cfg.epochs} epochs; every method retrains for "
              f"{cfg.retrain_epochs} epochs (SynFlow, pruned at initialisation, trains the full "
              f"{cfg.epochs}).",
              "- Accuracy is computed from the logits of `sparse_rt.load(file)(x)`; torch's "
              "accuracy is kept in runs.csv (`accuracy_torch`) as a cross-check.",
              "- Export: `sparse_rt.export(..., measure="
              f"{cfg.measure_formats})`" + (" — every layer stores the format that was fastest "
                                            "when timed on this machine." if cfg.measure_formats
                                            else " — density threshold."),
              "- Timing: `sparse_rt.bench.timing.time_callable` (warm-up, median of >= 10 runs and "
              f">= {cfg.timing_min_seconds} s), {meta['threads']} thread(s) for sparse_rt and "
              "torch alike. Rows flagged `noisy_timing` had a spread above 15%.",
              "", "## Machine", "",
              f"- sparse_rt {rt.get('version')}: ISA path {rt.get('isa')}, "
              f"{rt.get('num_threads')} threads, {rt.get('openmp')}",
              f"- BLAS: {rt.get('blas')}", f"- CPU: {rt.get('cpu')}",
              f"- torch {info.get('torch')}, Python {info['python']}, {info['platform']}",
              f"- load average (1 min) at start / end: {meta.get('load_start')} / "
              f"{meta.get('load_end')} on {meta.get('cpus')} CPUs",
              f"- wall time: {meta.get('seconds', 0):.0f} s", "",
              "## Configuration", "", "```", json.dumps(meta["config"], indent=1), "```", ""]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def print_summary(console, rows, speed_rows, meta=None) -> None:
    """The rich tables and the answer, on ``console``."""
    from rich.table import Table

    table = Table(title="Part 1: digits — accuracy from sparse_rt, measured speed-up "
                        "(mean over seeds)")
    for h in SUMMARY_HEADER:
        table.add_column(h, justify="left" if h in ("model", "method") else "right")
    for r in summary_rows(rows):
        table.add_row(*r)
    console.print(table)
    if speed_rows:
        t2 = Table(title="Part 2: ResNet-50, synthetic weights, equal FLOPs")
        for h in SPEED_HEADER:
            t2.add_column(h, justify="left" if h in ("pattern", "formats") else "right")
        for r in speed_table(speed_rows):
            t2.add_row(*[str(c) for c in r])
        console.print(t2)
    for t in quality_targets(rows):
        mark = "[green]met[/]" if t["met"] else "[red]not met[/]"
        console.print(f"target: {t['target']} — {t['model']}, {t['setting']}: "
                      f"accuracy loss {t['drop_pp']:+.2f} points ({mark})")
    console.print("'!' marks timings with a spread above 15% (noisy).")
    console.print()
    console.print("[bold]The answer[/]")
    for s in answer(rows, speed_rows):
        console.print(s, markup=False, highlight=False)
    warning = busy_warning(meta or {})
    if warning:
        console.print(f"[yellow]Warning:[/] {warning}")
