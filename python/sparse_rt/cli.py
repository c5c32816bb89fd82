"""The ``sparse-rt`` command.

    sparse-rt info [--json]    what this machine runs: version, ISA paths, threads, BLAS
    sparse-rt demo             the main job (see README.md)
    sparse-rt bench            benchmark one model (sparse_rt.bench.cli)
    sparse-rt compare          sweep sparsities x patterns (sparse_rt.bench.cli)

Subcommands that need torch import it only when they run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


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


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def _cmd_demo(args) -> int:
    """Foundation stand-in for the demo: runtime info plus a sparse matmul timed against numpy."""
    import sparse_rt
    from sparse_rt.ops import Linear

    _cmd_info(argparse.Namespace(json=False))
    print()
    rng = np.random.default_rng(0)
    m = k = args.size
    print(f"Linear layer {m}x{k}, batch {args.batch}, {sparse_rt.get_num_threads()} threads; "
          f"median of {args.repeats} runs")
    print(f"{'sparsity':>8}  {'numpy dense ms':>14}  {'sparse_rt ms':>12}  {'speedup':>7}  kernel")
    x = rng.standard_normal((args.batch, k)).astype(np.float32)
    for sparsity in (0.0, 0.5, 0.9, 0.95):
        w = rng.standard_normal((m, k)).astype(np.float32)
        w[rng.random(w.shape) < sparsity] = 0
        layer = Linear(w, format="csr")
        wt = np.ascontiguousarray(w.T)
        dense_ms = _median_ms(lambda: x @ wt, args.repeats)
        sparse_ms = _median_ms(lambda: layer(x), args.repeats)
        np.testing.assert_allclose(layer(x), x @ wt, rtol=1e-3, atol=1e-3)
        print(f"{sparsity:>8.2f}  {dense_ms:>14.3f}  {sparse_ms:>12.3f}  "
              f"{dense_ms / sparse_ms:>6.2f}x  {layer.kernel}")
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
    registered = set()
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name and (name == e.name or name.startswith(e.name + "."))):
                raise
            continue
        module.register(sub)
        registered.add(name)
    if "sparse_rt.demo.cli" not in registered:
        p = sub.add_parser("demo", help="the main job: sparse vs dense timing on this machine")
        p.add_argument("--size", type=int, default=2048, help="layer width (default 2048)")
        p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
        p.add_argument("--repeats", type=int, default=20, help="timed runs per case (default 20)")
        p.set_defaults(func=_cmd_demo)
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
