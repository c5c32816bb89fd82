"""What the demo runs: the methods it knows, the quick and full presets, option checking.

numpy-free and torch-free: ``sparse-rt --help`` imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Method:
    """One study arm: a pruning criterion and pattern, a schedule and a retraining recipe."""

    name: str
    label: str          # shown in tables and plots
    pattern: str        # "unstructured", "block 4x4", "2:4", "channels"
    schedule: str       # "one-shot", "iterative", "AGP", "at init"
    retraining: str     # "fine-tune", "LR rewind", "re-init", "train from init"
    group: str          # "methods" (criteria compared) or "schedules" (magnitude variants)
    fixed_sparsity: float | None = None   # 2:4 exists at 50% only
    reference: str = ""


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("magnitude", "magnitude (layer)", "unstructured", "one-shot", "fine-tune", "methods",
           reference="Han et al. 2015"),
    Method("magnitude-global", "magnitude (global)", "unstructured", "one-shot", "fine-tune",
           "methods", reference="Han et al. 2015; global ranking as in Blalock et al. 2020"),
    Method("block4x4", "block 4x4", "block 4x4", "one-shot", "fine-tune", "methods",
           reference="Narang et al. 2017"),
    Method("2:4", "2:4", "2:4", "one-shot", "fine-tune", "methods", fixed_sparsity=0.5,
           reference="Mishra et al. 2021"),
    Method("l1-filter", "L1 filter (removed)", "channels", "one-shot", "fine-tune", "methods",
           reference="Li et al. 2017"),
    Method("taylor-filter", "Taylor filter (removed)", "channels", "one-shot", "fine-tune",
           "methods", reference="Molchanov et al. 2017"),
    Method("synflow", "SynFlow (at init)", "unstructured", "at init", "train from init",
           "methods", reference="Tanaka et al. 2020"),
    Method("random", "random (control)", "unstructured", "one-shot", "fine-tune", "methods"),
    Method("magnitude-iterative", "magnitude global, iterative", "unstructured", "iterative",
           "fine-tune", "schedules", reference="Han et al. 2015"),
    Method("magnitude-agp", "magnitude global, AGP", "unstructured", "AGP", "fine-tune",
           "schedules", reference="Zhu & Gupta 2017"),
    Method("magnitude-lr-rewind", "magnitude global, LR rewind", "unstructured", "one-shot",
           "LR rewind", "schedules", reference="Renda et al. 2020"),
    Method("magnitude-reinit", "magnitude global, re-init", "unstructured", "one-shot",
           "re-init", "schedules", reference="Frankle & Carbin 2019 (control)"),
)}

MODELS = ("mlp", "cnn")

FULL_SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)
QUICK_METHODS = ("magnitude-global", "block4x4", "2:4", "l1-filter", "synflow", "random")
QUICK_SPARSITIES = (0.5, 0.9)


@dataclass(frozen=True)
class SpeedConfig:
    """Part 2: ResNet-50 with synthetic weights of controlled sparsity."""

    sparsities: tuple[float, ...] = (0.9,)
    batches: tuple[int, ...] = (1,)
    image_size: int = 112
    min_runs: int = 3
    min_seconds: float = 0.3


@dataclass(frozen=True)
class DemoConfig:
    out: str = "sparse_rt_demo"
    models: tuple[str, ...] = MODELS
    methods: tuple[str, ...] = QUICK_METHODS
    sparsities: tuple[float, ...] = QUICK_SPARSITIES
    seeds: tuple[int, ...] = (0,)
    epochs: int = 30                  # dense training; retraining gets epochs // 2
    threads: int | None = None        # timing threads for sparse_rt and torch (None: sparse_rt's)
    speed: SpeedConfig | None = field(default_factory=SpeedConfig)
    channel_target: bool = True       # the "50% of channels removed" quality-target runs
    measure_formats: bool = True      # export with measure=True (per-layer timed format choice)
    timing_min_seconds: float = 0.2
    full: bool = False

    @property
    def retrain_epochs(self) -> int:
        return max(1, self.epochs // 2)

    def check(self) -> DemoConfig:
        """Raise ValueError naming the offending value; returns self."""
        for m in self.models:
            if m not in MODELS:
                raise ValueError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
        if not self.models:
            raise ValueError("no models selected")
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
        if not self.methods:
            raise ValueError("no methods selected")
        for s in self.sparsities:
            if not (isinstance(s, float) and math.isfinite(s) and 0.0 < s < 1.0):
                raise ValueError(f"sparsity {s!r} must be a fraction strictly between 0 and 1")
        if not self.sparsities:
            raise ValueError("no sparsities selected")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ValueError(f"seed {s!r} must be a non-negative int")
        if not self.seeds:
            raise ValueError("no seeds selected")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {list(self.seeds)} contain duplicates")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 2:
            raise ValueError(f"epochs must be an int >= 2, got {self.epochs!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or
                                         not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive int, got {self.threads!r}")
        if self.speed is not None:
            for s in self.speed.sparsities:
                if not 0.0 < s < 1.0:
                    raise ValueError(f"speed sparsity {s!r} must be strictly between 0 and 1")
            for b in self.speed.batches:
                if b < 1:
                    raise ValueError(f"speed batch {b!r} must be >= 1")
            if self.speed.image_size < 32:
                raise ValueError(f"speed image_size must be >= 32, got {self.speed.image_size}")
        return self

    def grid(self) -> list[tuple[str, str, float, int]]:
        """Every (model, method, requested sparsity, seed) the study runs, in run order."""
        runs = []
        for model in self.models:
            for seed in self.seeds:
                for name in self.methods:
                    method = METHODS[name]
                    if method.fixed_sparsity is not None:
                        sparsities = [method.fixed_sparsity]
                    else:
                        sparsities = list(self.sparsities)
                    for s in sparsities:
                        runs.append((model, name, s, seed))
        return runs


def quick_config(**overrides) -> DemoConfig:
    """The default: a subset that finishes in about 3-4 minutes on 2 cores."""
    return replace(DemoConfig(), **overrides)


def full_config(**overrides) -> DemoConfig:
    """``--full``: every method x 5 sparsities x 3 seeds, part 2 at 224x224, batch 1 and 16."""
    base = DemoConfig(
        methods=tuple(METHODS), sparsities=FULL_SPARSITIES, seeds=(0, 1, 2), epochs=40,
        speed=SpeedConfig(sparsities=(0.7, 0.9, 0.95), batches=(1, 16), image_size=224,
                          min_runs=3, min_seconds=1.0),
        timing_min_seconds=0.5, full=True)
    return replace(base, **overrides)


__all__ = ["METHODS", "MODELS", "DemoConfig", "Method", "SpeedConfig", "full_config",
           "quick_config"]
