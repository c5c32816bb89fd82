"""The ``sparse-rt`` command.

    sparse-rt info [--json]    what this machine runs: version, ISA paths, threads, BLAS
    sparse-rt demo             the main job: train, prune, export, run, time (sparse_rt.demo)
    sparse-rt bench            benchmark one model (sparse_rt.bench.cli)
    sparse-rt compare          sweep sparsities x patterns (sparse_rt.bench.cli)

Subcommands that need torch import it only when they run.
"""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args) -> int:
    import sparse_rt

    info = sparse_rt.runtime_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:<{width}}  {value}")
    return 0


# Modules that add subcommands: each defines register(subparsers) and must not import torch at
# module level (``sparse-rt info`` must work without it).
_SUBCOMMAND_MODULES = ("sparse_rt.bench.cli", "sparse_rt.demo.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="sparse-rt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print the runtime configuration")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_info)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name and (name == e.name or name.startswith(e.name + "."))):
                raise
            continue
        module.register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as e:
        print(f"sparse-rt: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
