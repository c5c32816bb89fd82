"""``sparse-rt demo``: the command-line front end of :mod:`sparse_rt.demo`.

No torch, scikit-learn or matplotlib at import: ``sparse-rt info`` imports this module too.
"""

from __future__ import annotations

import argparse
import dataclasses

from .config import METHODS, MODELS, full_config, quick_config

DESCRIPTION = """\
Train an MLP and a small CNN on scikit-learn's bundled digits, prune them with several methods,
export every model to a .sprt file, run it with sparse_rt and judge it by the accuracy computed
from sparse_rt's outputs and by measured speed; then time a ResNet-50-shaped model pruned three
ways at equal FLOPs. The default is a quick subset (a few minutes on 2 cores); --full runs the
whole grid. See docs/demo.md."""


def _csv(kind, convert):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind}, "
                                             f"got {text!r}")
        out = []
        for item in items:
            try:
                out.append(convert(item))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{item!r} is not a valid {kind}") from None
        return tuple(out)

    return parse


def _choice_list(kind, choices):
    def convert(item):
        if item not in choices:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {item!r}; choose from {', '.join(choices)}")
        return item

    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind}s")
        if items == ["all"]:
            return tuple(choices)
        return tuple(convert(i) for i in items)

    return parse


def _sparsity(text):
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError(text)
    return value


def _seed(text):
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def register(subparsers) -> None:
    """Add the ``demo`` subcommand to the ``sparse-rt`` parser."""
    p = subparsers.add_parser("demo", help="the main job: train, prune, export, run and time "
                              "on real data", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="sparse_rt_demo", metavar="DIR",
                   help="output folder (default: sparse_rt_demo/)")
    p.add_argument("--full", action="store_true",
                   help="every method x 0.5,0.7,0.8,0.9,0.95 x 3 seeds, 40 epochs; part 2 at "
                        "224x224, batch 1 and 16, sparsity 0.7/0.9/0.95 (tens of minutes on 2 "
                        "cores)")
    p.add_argument("--models", type=_choice_list("model", MODELS), metavar="LIST",
                   help=f"comma-separated, from {', '.join(MODELS)} (default: both)")
    p.add_argument("--methods", type=_choice_list("method", tuple(METHODS)), metavar="LIST",
                   help="comma-separated, or 'all': " + ", ".join(METHODS)
                        + " (default: magnitude-global, block4x4, 2:4, l1-filter, synflow, "
                          "random; --full: all)")
    p.add_argument("--sparsities", type=_csv("sparsity in (0, 1)", _sparsity), metavar="LIST",
                   help="fractions of weights to remove, e.g. 0.5,0.9 (default 0.5,0.9; "
                        "--full: 0.5,0.7,0.8,0.9,0.95)")
    p.add_argument("--seeds", type=_csv("seed (int >= 0)", _seed), metavar="LIST",
                   help="comma-separated seeds, e.g. 0,1,2 (default 0; --full: 0,1,2)")
    p.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="dense training epochs; retraining gets N/2 (default 30; --full: 40)")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="threads for timing, sparse_rt and torch alike (default: sparse_rt's, "
                        "i.e. SPARSE_RT_NUM_THREADS or the physical cores)")
    p.add_argument("--no-speed", action="store_true",
                   help="skip part 2 (ResNet-50 timing)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or tables; print only the answer and where the "
                        "outputs are")
    p.set_defaults(func=main)


def config_from_args(args):
    """The DemoConfig for parsed ``args`` (explicit options override the preset)."""
    overrides = {"out": args.out}
    for name in ("models", "methods", "sparsities", "seeds", "epochs", "threads"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.no_speed:
        overrides["speed"] = None
    cfg = full_config(**overrides) if args.full else quick_config(**overrides)
    if args.epochs is not None and args.epochs < 2:
        raise ValueError(f"--epochs must be >= 2, got {args.epochs}")
    return dataclasses.replace(cfg).check()


def main(args) -> int:
    from rich.console import Console

    from . import run

    cfg = config_from_args(args)
    console = Console()
    if not console.is_terminal:   # piped or logged: do not squeeze the tables into 80 columns
        console = Console(width=150)
    run(cfg, console=console, progress=not args.quiet)
    return 0
