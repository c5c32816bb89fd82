"""Fixtures shared by the Python tests: every ISA path this machine can run, thread counts."""

import pytest

import sparse_rt

AVAILABLE_ISAS = sparse_rt.runtime_info()["isa_available"]
ALL_ISAS = ("scalar", "avx2", "avx512")


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Runs the test once per ISA path; a path this CPU lacks is skipped, not failed.

    Layers pick their kernel at construction, so build layers inside the test body.
    """
    name = request.param
    if name not in AVAILABLE_ISAS:
        pytest.skip(f"this machine cannot run the {name} path")
    before = sparse_rt.get_isa()
    sparse_rt.set_isa(name)
    yield name
    sparse_rt.set_isa(before)


@pytest.fixture(params=(1, 2))
def threads(request):
    before = sparse_rt.get_num_threads()
    sparse_rt.set_num_threads(request.param)
    yield request.param
    sparse_rt.set_num_threads(before)
