"""Whole-model cases shared by benchmarks/bench_models.py and tests/python/bench/.

Pure data (standard library only). ``CASES`` is the benchmark grid of issue 9: ResNet-18,
ResNet-50, MobileNetV1 and MobileNetV2 at 224x224, batch 1 and 16, sparsity 0 / 0.7 / 0.9 / 0.95,
patterns unstructured, block 4x4 and channel (sparsity 0 is measured once per model and batch:
the dense model). ``TINY_CASES`` are the same models, narrowed and at small inputs, for tests.
Both are run by the same code, ``sparse_rt.bench.model_bench.bench_reference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelCase:
    model: str                  # a name of sparse_rt.bench.model_bench.REFERENCE_MODELS
    pattern: str                # "unstructured", "block:4x4", "2:4", "channel"
    sparsity: float
    batch: int = 1
    input_size: int | None = 224
    model_kwargs: tuple = field(default=())  # (("width", 8),): narrowed builder arguments

    @property
    def id(self) -> str:
        size = f"-{self.input_size}" if self.input_size else ""
        kw = "".join(f"-{k}{v}" for k, v in self.model_kwargs)
        pat = "dense" if self.sparsity == 0 else f"{self.pattern.replace(':', '')}-s{self.sparsity:g}"
        return f"{self.model}{kw}{size}-b{self.batch}-{pat}"


MODELS = ("resnet18", "resnet50", "mobilenet_v1", "mobilenet_v2")
BATCHES = (1, 16)
SPARSITIES = (0.0, 0.7, 0.9, 0.95)
PATTERNS = ("unstructured", "block:4x4", "channel")


def _grid(models, batches, sparsities, patterns, input_size, kwargs=lambda m: ()):
    cases = []
    for model in models:
        for batch in batches:
            for s in sparsities:
                for pattern in (patterns[:1] if s == 0 else patterns):
                    cases.append(ModelCase(model, pattern, s, batch, input_size, kwargs(model)))
    return cases


CASES = _grid(MODELS, BATCHES, SPARSITIES, PATTERNS, 224)

# The rows of docs/benchmarks.md and the issue-9 targets (batch 1, s = 0 and 0.9).
HEADLINE = [c for c in CASES if c.batch == 1 and c.sparsity in (0.0, 0.9)
            and c.model in ("resnet18", "resnet50", "mobilenet_v1")]

_TINY_WIDTH = {"resnet18": (("width", 8), ("num_classes", 10)),
               "resnet50": (("width", 8), ("num_classes", 10)),
               "mobilenet_v1": (("width_mult", 0.25), ("num_classes", 10)),
               "mobilenet_v2": (("width_mult", 0.25), ("num_classes", 10))}
TINY_CASES = _grid(("resnet18", "mobilenet_v2"), (1,), (0.0, 0.9), PATTERNS, 32,
                   lambda m: _TINY_WIDTH[m])

# Issue-9 targets (ms, 2 threads, 224x224, 90% unstructured; DeepSparse's figures).
TARGETS_MS = {("resnet50", 1): 15.7, ("resnet50", 16): 119.0, ("resnet18", 1): 8.0,
              ("mobilenet_v1", 1): 2.4}
DENSE_VS_TORCH_MAX = 1.25  # dense models within 1.25x of torch eager
