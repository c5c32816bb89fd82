"""Helpers for the hardening tests: the fuzzing seed models (tests/fuzz/make_corpus.py), a
loader that writes bytes to a file, and resident-memory readings.

The suite runs with ``--import-mode=importlib``, so test modules get these through fixtures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import sparse_rt
from sparse_rt.format import ALIGNMENT, ModelFormatError, parse_model, write_model

ROOT = Path(__file__).resolve().parents[3]
FUZZ_DIR = ROOT / "tests" / "fuzz"


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", FUZZ_DIR / "make_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


make_corpus = _load_make_corpus()
SEEDS = {name: (doc, tensors) for name, doc, tensors in make_corpus.models()}


def rss_bytes() -> int:
    """Resident set size of this process now (/proc/self/statm, field 2, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Files:
    """Writes byte strings to numbered files under a temporary directory and loads them."""

    def __init__(self, tmp_path: Path):
        self.dir = tmp_path
        self.k = 0

    def path(self, raw: bytes) -> Path:
        self.k += 1
        p = self.dir / f"f{self.k % 8}.sprt"
        p.write_bytes(raw)
        return p

    def seed(self, name: str) -> Path:
        doc, tensors = SEEDS[name]
        p = self.dir / name
        write_model(p, doc, tensors)
        return p

    def cpp_error(self, raw: bytes):
        """None if sparse_rt.load accepts `raw`, else its ModelFormatError message. Any other
        exception propagates (and fails the test)."""
        p = self.path(raw)
        try:
            sparse_rt.load(p, num_threads=1)
        except ModelFormatError as e:
            msg = str(e)
            assert msg.startswith(f"{p}: "), msg
            return msg[len(str(p)) + 2:]
        return None

    @staticmethod
    def py_error(raw: bytes):
        try:
            parse_model(raw)
        except ModelFormatError as e:
            return str(e)
        return None


def split_file(raw: bytes):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_file(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % ALIGNMENT)
    return struct.pack("<Q", len(h)) + h + data


def edit_doc(raw: bytes, fn) -> bytes:
    """`raw` with fn(document) applied to its graph document (tensor table unchanged)."""
    header, data = split_file(raw)
    doc = json.loads(header["__metadata__"]["sparse_rt"])
    fn(doc)
    header["__metadata__"]["sparse_rt"] = json.dumps(doc)
    return join_file(header, data)


def edit_header(raw: bytes, fn) -> bytes:
    header, data = split_file(raw)
    fn(header)
    return join_file(header, data)


@pytest.fixture
def files(tmp_path):
    return Files(tmp_path)


@pytest.fixture
def hd():
    return SimpleNamespace(SEEDS=SEEDS, FUZZ_DIR=FUZZ_DIR, ROOT=ROOT, rss_bytes=rss_bytes,
                           split_file=split_file, join_file=join_file, edit_doc=edit_doc,
                           edit_header=edit_header, make_corpus=make_corpus, np=np)
