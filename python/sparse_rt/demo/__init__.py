"""``sparse-rt demo``: train, prune, fine-tune, export and run on real data (see docs/demo.md).

Part 1 trains an MLP (LeNet-300-100 shape) and a small CNN on scikit-learn's bundled digits,
prunes them with several methods, exports every model with ``sparse_rt.export``, runs it with
``sparse_rt.load`` and judges it by the accuracy computed from sparse_rt's own outputs and by
measured speed. Part 2 times a ResNet-50-shaped model with synthetic weights of controlled
sparsity: unstructured vs block 4x4 vs channel pruning at equal FLOPs.

Importing this package needs neither torch nor scikit-learn; they are imported when it runs.
"""

from .config import METHODS, DemoConfig, SpeedConfig, full_config, quick_config

__all__ = ["METHODS", "DemoConfig", "SpeedConfig", "full_config", "quick_config", "run"]


def run(config: DemoConfig, *, console=None, progress: bool = True) -> dict:
    """Run the demo described by ``config`` and write its outputs; returns the results."""
    from .runner import run_demo

    return run_demo(config, console=console, progress=progress)
