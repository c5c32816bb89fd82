"""Loading and running model files (``.sprt``, see docs/format.md) with the compiled runtime.

::

    model = sparse_rt.load("resnet50-p90.sprt")
    y = model(x)                       # one float32 array in, one out
    outs = model({"x": x})             # dict by input name -> dict by output name
    print(model)                       # summary: inputs, outputs, layers, memory plan
    model.report()                     # per-layer rows (list of dicts, prints as a table)

Inputs must be float32 numpy arrays: a float64 (or any other dtype) array raises
``ValueError`` naming the dtype rather than being converted silently, because a silent cast
hides a copy and a precision change in the caller's pipeline; convert with
``x.astype(np.float32)``. Non-contiguous or misaligned arrays are copied. Outputs are new
float32 arrays.

A :class:`Model` is immutable and may be called from several Python threads at once: each
thread gets its own native session (activation buffers), and the GIL is released while the
model runs.
"""

from __future__ import annotations

import os
import threading
from typing import Mapping, NamedTuple

import numpy as np

from . import _core

__all__ = ["IOSpec", "LayerReport", "Model", "load"]


class IOSpec(NamedTuple):
    """A graph input or output: its name and shape (``None`` for a free batch dimension)."""

    name: str
    shape: tuple


def _fmt_shape(shape) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _fmt_count(v: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(v) < 1000:
            return f"{v:.3g}{unit}"
        v /= 1000
    return f"{v:.3g}P"


class LayerReport(list):
    """Per-layer rows of :meth:`Model.report` (a list of dicts) that prints as a table.

    Keys: ``name``, ``op``, ``fused`` (names of nodes folded/fused into this layer),
    ``activation``, ``input_shapes``, ``output_shape``, ``format`` (``"dense"``, ``"csr"``,
    ``"bsr 4x4"``; ``None`` without weights), ``density``, ``kernel``, ``dense_flops`` and
    ``useful_flops`` (per sample; a multiply-add counts 2).
    """

    def __str__(self) -> str:
        head = ("layer", "op", "output", "format", "density", "kernel", "dense FLOPs",
                "useful FLOPs")
        rows = [head]
        for r in self:
            name = "+".join([r["name"], *r["fused"]])
            op = r["op"] + (f" {r['activation']}" if r["activation"] not in (None, "none") else "")
            rows.append((name, op, _fmt_shape(r["output_shape"]), r["format"] or "",
                         "" if r["density"] is None else f"{r['density']:.3f}", r["kernel"],
                         _fmt_count(r["dense_flops"]), _fmt_count(r["useful_flops"])))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        dense = sum(r["dense_flops"] for r in self)
        useful = sum(r["useful_flops"] for r in self)
        lines.append(f"{len(self)} layers, {_fmt_count(useful)} useful / {_fmt_count(dense)}"
                     " dense FLOPs per sample")
        return "\n".join(lines)


class Model:
    """A loaded, validated model (use :func:`load`)."""

    def __init__(self, core_model, path: str):
        self._m = core_model
        self.path = path
        self._local = threading.local()
        self._inputs = [IOSpec(n, tuple(s)) for n, s in core_model.inputs]
        self._outputs = [IOSpec(n, tuple(s)) for n, s in core_model.outputs]

    @property
    def inputs(self) -> list:
        """The graph inputs, in positional order: ``[IOSpec(name, shape), ...]``."""
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def num_threads(self) -> int:
        return self._m.num_threads

    def report(self) -> LayerReport:
        """One row per executed layer (after fusions): format, density, kernel, FLOPs."""
        return LayerReport(self._m.report())

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = _core.Session(self._m)
        return s

    @staticmethod
    def _array(x, name: str) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input {name!r} must be a numpy array, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise ValueError(f"input {name!r} has dtype {x.dtype}; sparse_rt takes float32 only"
                             " (convert with x.astype(np.float32))")
        # C-contiguous *and* aligned: a view into a byte buffer at an odd offset is
        # contiguous but its floats are misaligned, which the kernels must never see.
        return np.require(x, requirements=("C_CONTIGUOUS", "ALIGNED"))

    def run(self, x):
        """Run the model.

        ``x`` is one float32 array (models with one input) or a dict from input name to
        array. Returns one array when given one array and the model has one output, else a
        dict from output name to array. Shapes are checked (``ValueError`` gives the expected
        shape, ``N`` for the free batch).
        """
        single = not isinstance(x, Mapping)
        if single:
            if len(self._inputs) != 1:
                raise ValueError(f"the model has {len(self._inputs)} inputs"
                                 f" ({', '.join(i.name for i in self._inputs)}): pass a dict")
            arrays = [self._array(x, self._inputs[0].name)]
        else:
            for spec in self._inputs:
                if spec.name not in x:
                    raise ValueError(f"missing input {spec.name!r}")
            extra = sorted(set(x) - {i.name for i in self._inputs})
            if extra:
                raise ValueError(f"unknown input(s) {extra}; the model takes"
                                 f" {[i.name for i in self._inputs]}")
            arrays = [self._array(x[spec.name], spec.name) for spec in self._inputs]
        outs = self._session().run(arrays)
        if single and len(outs) == 1:
            return outs[0]
        return {spec.name: y for spec, y in zip(self._outputs, outs)}

    __call__ = run

    def profile(self, x, *, repeat: int = 10) -> dict:
        """Time ``repeat`` runs on ``x`` (after one warm-up) in this thread's session.

        Returns ``{"total_ms": median whole run, "layers_ms": median per report row,
        "overhead_ms": total minus the sum of layers}``: the overhead is the executor's own
        cost (input checks, dispatch, output copies).
        """
        s = self._session()
        s.set_profiling(True)
        try:
            self.run(x)
            totals, layers = [], []
            for _ in range(max(1, int(repeat))):
                self.run(x)
                t, per = s.last_profile()
                totals.append(t)
                layers.append(per)
        finally:
            s.set_profiling(False)
        layers_ms = np.median(np.array(layers), axis=0)
        total = float(np.median(totals))
        return {"total_ms": total, "layers_ms": layers_ms.tolist(),
                "overhead_ms": float(np.median([t - sum(p) for t, p in zip(totals, layers)]))}

    def __repr__(self) -> str:
        ins = ", ".join(f"{i.name}{_fmt_shape(i.shape)}" for i in self._inputs)
        outs = ", ".join(f"{o.name}{_fmt_shape(o.shape)}" for o in self._outputs)
        return f"sparse_rt.Model({self.path!r}, inputs {ins}, outputs {outs})"

    def __str__(self) -> str:
        return self._m.summary().rstrip("\n")


def load(path, *, num_threads: int | None = None) -> Model:
    """Load, validate and plan a model file.

    ``num_threads``: threads one inference uses (default: the process setting,
    :func:`sparse_rt.set_num_threads`). Kernels are chosen for the ISA path current now.
    Raises :class:`sparse_rt.ModelFormatError` (a ``ValueError``) for an invalid file, naming
    the tensor or node at fault, and ``ValueError`` if it cannot be opened.
    """
    if num_threads is None:
        n = 0
    elif isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise TypeError(f"num_threads must be an int or None, got {type(num_threads).__name__}")
    elif num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    else:
        n = num_threads
    path = os.fspath(path)
    return Model(_core.load_model(path, n), path)
