"""Atheris harness: mutated model files through ``sparse_rt.load`` (the C++ reader and
planner) and the numpy reference reader ``sparse_rt.format.parse_model``.

    python tests/fuzz/make_corpus.py /tmp/corpus
    PYTHONPATH=python python tests/fuzz/fuzz_load.py /tmp/corpus -atheris_runs=100000 -timeout=1

Any libFuzzer flag works (``-max_total_time=60``, ``-jobs``, ...). A finding is:

* an exception other than ``ValueError`` (``sparse_rt.ModelFormatError`` is one) from either
  reader, or from running a small loaded model once on a finite input;
* a crash, or a hang longer than ``-timeout`` seconds;
* the two readers disagreeing on whether the file is valid (they implement one spec);

Mutations: half the time atheris mutates the whole file; otherwise only the JSON header, and
the file is re-framed (8-byte length rewritten, header re-padded to 64 bytes), so mutations
reach the document checks. The input is written to a file because ``sparse_rt.load`` takes a
path (it memory-maps it).
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris
import numpy as np

with atheris.instrument_imports(include=["sparse_rt"]):
    import sparse_rt
    from sparse_rt.format import ModelFormatError, parse_model

_DIR = tempfile.mkdtemp(prefix="sparse_rt_fuzz_",
                        dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
_PATH = os.path.join(_DIR, "input.sprt")
_MAX_RUN_FLOATS = 1 << 20


def _run_small(model) -> None:
    """One inference on a constant input when the model is small; shapes from the model."""
    batch = None
    arrays = {}
    for spec in model.inputs:
        b = spec.shape[0] if spec.shape[0] is not None else 1
        per_sample = int(np.prod(spec.shape[1:], dtype=np.int64))
        if b * per_sample > _MAX_RUN_FLOATS or b > 64:
            return
        batch = b
        arrays[spec.name] = np.full((b, *spec.shape[1:]), 0.5, np.float32)
    if batch is None or model._m.activation_bytes_per_sample * batch > 4 * _MAX_RUN_FLOATS:
        return
    outs = model(arrays)
    for spec in model.outputs:
        y = outs[spec.name]
        assert y.dtype == np.float32 and y.shape[0] == batch, (spec, y.shape)


def TestOneInput(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    py_err = cpp_err = None
    try:
        parse_model(data)
    except ModelFormatError as e:
        py_err = e
    try:
        model = sparse_rt.load(_PATH, num_threads=1)
    except ValueError as e:  # ModelFormatError, or InvalidArgument from the planner
        cpp_err = e
    else:
        _run_small(model)
    if (py_err is None) != (cpp_err is None) and not (
            cpp_err is not None and not isinstance(cpp_err, ModelFormatError)):
        # the planner may refuse (ValueError, not ModelFormatError) a file both readers accept
        raise AssertionError(f"readers disagree: python {py_err!r}, C++ {cpp_err!r}")


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if seed % 2 == 0 or len(data) < 8 or not 2 <= n <= len(data) - 8:
        return atheris.Mutate(data, max_size)
    text = data[8:8 + n].rstrip(b" ") or b"{"
    tail = data[8 + n:]
    room = max_size - 8 - len(tail) - 64
    if room < len(text):
        return atheris.Mutate(data, max_size)
    text = atheris.Mutate(text, room) or b"{"
    text += b" " * (-(8 + len(text)) % 64)
    return len(text).to_bytes(8, "little") + text + tail


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=CustomMutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
