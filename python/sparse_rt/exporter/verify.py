"""Check an exported file against the torch model, and find the first layer that diverges."""

from __future__ import annotations

import numpy as np
import torch

from ..format import read_model
from ..reference import run_reference
from .errors import ExportVerificationError


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Normwise relative error max |got - want| / max |want| (0 for empty or all-zero pairs)."""
    if got.shape != want.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    scale = float(np.max(np.abs(want)))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def _torch_values(gm: torch.fx.GraphModule, x: torch.Tensor) -> dict:
    """Every fx node's tensor output, by node name."""
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                values[n.name] = out.detach().numpy()
            return out

    with torch.no_grad():
        Recorder(gm).run(x)
    return values


def _run_runtime(path: str, x: np.ndarray):
    import sparse_rt

    if hasattr(sparse_rt, "load"):
        return sparse_rt.load(path)(x), "sparse_rt.load"
    return run_reference(path, x), "the reference executor (runtime cannot load files)"


def verify_export(model, gm, example: torch.Tensor, path: str, tolerance: float) -> float:
    """Raise ExportVerificationError naming the first diverging layer if the file's output
    differs from torch's by more than ``tolerance`` (relative, see relative_error)."""
    with torch.no_grad():
        want = model(example)
    want_list = [t.numpy() for t in (want if isinstance(want, (tuple, list)) else [want])]
    x = example.numpy()
    got, runner = _run_runtime(path, x)
    got_list = list(got.values()) if isinstance(got, dict) else [got]
    err = max(relative_error(g, w) for g, w in zip(got_list, want_list))
    if err <= tolerance:
        return err

    # Locate: compare the numpy reference's intermediates with torch's, node by node.
    mf = read_model(path)
    ref = run_reference(mf, x, intermediates=True)
    theirs = _torch_values(gm, example)
    for node in mf.meta["nodes"]:
        value = node["outputs"][0]
        if value in ref and value in theirs:
            e = relative_error(ref[value], theirs[value])
            if e > tolerance:
                raise ExportVerificationError(
                    f"exported model differs from torch (relative error {err:.2e} > "
                    f"{tolerance:.0e}); first diverging layer: node '{node['name']}' "
                    f"({node['op']}) with relative error {e:.2e}")
    raise ExportVerificationError(
        f"{runner} output differs from torch (relative error {err:.2e} > {tolerance:.0e}) "
        "while the reference executor matches torch at every layer: a runtime bug, please "
        "report it with this model file")
