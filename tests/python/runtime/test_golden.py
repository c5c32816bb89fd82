"""The committed golden model tests/data/tiny_cnn.sprt (used by the C++ tests, the consumer
project and CI's run_model): it is what its script writes, and the runtime reproduces the
committed expected output, which is the numpy reference's."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import write_model
from sparse_rt.reference import run_reference

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_tiny_cnn", DATA / "make_tiny_cnn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _expected():
    lines = [ln for ln in (DATA / "tiny_cnn_expected.txt").read_text().splitlines()
             if not ln.startswith("#")]
    shape = tuple(int(v) for v in lines[0].split())
    return np.array([float(v) for v in lines[1:]], dtype=np.float32).reshape(shape)


def test_golden_file_is_reproducible(tmp_path, script):
    doc, tensors = script.build()
    write_model(tmp_path / "t.sprt", doc, tensors)
    assert (tmp_path / "t.sprt").read_bytes() == (DATA / "tiny_cnn.sprt").read_bytes()


def test_golden_output(script, isa):
    x = script.golden_input()
    want = _expected()
    np.testing.assert_allclose(run_reference(DATA / "tiny_cnn.sprt", x), want, rtol=1e-6,
                               atol=1e-7)
    m = sparse_rt.load(DATA / "tiny_cnn.sprt")
    np.testing.assert_allclose(m(x), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m(x[:1]), want[:1], rtol=1e-4, atol=1e-6)
