"""Replays the fuzzing seed corpus and every input a fuzzer found (tests/fuzz/regressions/):
each must load or raise ModelFormatError / ValueError, and the C++ loader and the numpy
reference reader must agree on whether it is valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import ModelFormatError, parse_model
from sparse_rt.reference import run_reference

FUZZ_DIR = Path(__file__).resolve().parents[3] / "tests" / "fuzz"
REGRESSIONS = sorted((FUZZ_DIR / "regressions").glob("*.sprt"))
CORPUS = sorted((FUZZ_DIR / "corpus").glob("*.sprt"))


def verdicts(path: Path):
    raw = path.read_bytes()
    try:
        parse_model(raw)
        py = None
    except ModelFormatError as e:
        py = str(e)
    try:
        m = sparse_rt.load(path, num_threads=1)
        cpp = None
    except ModelFormatError as e:
        cpp, m = str(e), None
    return py, cpp, m


def test_there_are_regression_inputs():
    assert len(REGRESSIONS) >= 1
    assert len(CORPUS) >= 8


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_regression_input(path):
    py, cpp, _ = verdicts(path)
    assert (py is None) == (cpp is None), f"python: {py}\nC++: {cpp}"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_file_loads_and_runs(path):
    py, cpp, m = verdicts(path)
    assert py is None and cpp is None, (py, cpp)
    arrays = {}
    for spec in m.inputs:
        b = spec.shape[0] or 3
        arrays[spec.name] = np.linspace(-1, 1, b * int(np.prod(spec.shape[1:])),
                                        dtype=np.float32).reshape(b, *spec.shape[1:])
    outs = m(arrays)
    want = run_reference(path, arrays)
    for spec in m.outputs:
        np.testing.assert_allclose(outs[spec.name], want[spec.name] if isinstance(want, dict)
                                   else want, rtol=1e-4, atol=1e-5)


def test_committed_corpus_matches_the_script(tmp_path, hd):
    hd.make_corpus.main([str(tmp_path)])
    written = sorted(p.name for p in tmp_path.glob("*.sprt"))
    assert written == [p.name for p in CORPUS]
    for name in written:
        assert (tmp_path / name).read_bytes() == (FUZZ_DIR / "corpus" / name).read_bytes(), name


def test_nul_byte_ends_neither_json_text(files, hd):
    """Found by atheris: nlohmann-json took a NUL byte for the end of input, so the C++ reader
    accepted a header (or document) with a NUL and anything after it; JSON forbids raw NULs."""
    raw = files.seed("linear_dense.sprt").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    # a NUL in the header's space padding, then garbage after it
    end = raw.rindex(b"}", 0, 8 + n) + 1
    bad = raw[:end] + b"\0xyz" + raw[end + 4:]
    assert len(bad) == len(raw)
    assert "NUL byte" in files.cpp_error(bad)
    assert files.py_error(bad) is not None
    # a NUL (escaped in the header, raw in the decoded document) after the document object
    bad = hd.edit_header(raw, lambda h: h["__metadata__"].__setitem__(
        "sparse_rt", h["__metadata__"]["sparse_rt"] + "\0junk"))
    assert "__metadata__['sparse_rt'] is not valid JSON: NUL byte" in files.cpp_error(bad)
    assert files.py_error(bad) is not None
