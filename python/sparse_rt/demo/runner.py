"""Run both parts with a live progress bar, then write and print the results."""

from __future__ import annotations

import dataclasses
import os
import time

from . import report, study
from .config import DemoConfig


def _progress_bar(console, total: int, enabled: bool):
    """A rich progress bar over the demo's units of work (a no-op when disabled)."""
    if not enabled:
        return None
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


def run_demo(cfg: DemoConfig, *, console=None, progress: bool = True) -> dict:
    """Run the demo described by ``cfg``; write runs.csv, runs.json, plots and report.md to
    ``cfg.out``; print the tables and the answer unless ``console`` is None and not
    ``progress``. Returns {"runs", "speed", "answer", "files"}."""
    import sparse_rt

    cfg.check()
    os.makedirs(os.path.join(cfg.out, "models"), exist_ok=True)
    t0 = time.perf_counter()
    load_start = _load()
    total = study.count(cfg)
    if cfg.speed is not None:
        from . import speed

        total += speed.count(cfg)
    bar = _progress_bar(console, total, progress and console is not None)
    task = None
    started = [False]

    def step(desc: str) -> None:
        if bar is None:
            return
        if started[0]:
            bar.advance(task)
        started[0] = True
        bar.update(task, description=desc)

    if bar is not None:
        bar.start()
        task = bar.add_task("starting", total=total)
    try:
        rows = study.run(cfg, progress=step)
        speed_rows = None
        if cfg.speed is not None:
            from . import speed

            speed_rows = speed.run(cfg, progress=step)
        if bar is not None:
            bar.advance(task)
            bar.update(task, description="done")
    finally:
        if bar is not None:
            bar.stop()
    meta = {
        "config": dataclasses.asdict(cfg),
        "machine": report.machine_info(),
        "threads": cfg.threads or sparse_rt.get_num_threads(),
        "seconds": time.perf_counter() - t0,
        "load_start": load_start, "load_end": _load(), "cpus": os.cpu_count(),
    }
    files = report.write_runs(cfg.out, rows, speed_rows, meta)
    plots = report.write_plots(cfg.out, rows, speed_rows)
    files.update({name: path for name, path in plots.items()})
    files["report.md"] = report.write_report(cfg.out, cfg, rows, speed_rows, plots, meta)
    if console is not None:
        if progress:
            report.print_summary(console, rows, speed_rows, meta)
        else:
            for line in report.answer(rows, speed_rows):
                console.print(line, markup=False, highlight=False)
            warning = report.busy_warning(meta)
            if warning:
                console.print(f"Warning: {warning}", markup=False, highlight=False)
        console.print(f"\nWrote {', '.join(sorted(files))} to {os.path.abspath(cfg.out)}/ "
                      f"in {meta['seconds']:.0f} s.")
    return {"runs": rows, "speed": speed_rows, "answer": report.answer(rows, speed_rows),
            "files": files, "meta": meta}
