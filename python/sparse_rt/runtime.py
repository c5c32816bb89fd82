"""Process-wide settings: instruction-set path and thread count."""

from __future__ import annotations

from . import _core

ISA_NAMES = ("scalar", "avx2", "avx512")


def runtime_info() -> dict:
    """What this process runs on.

    Keys: ``version``, ``isa`` (the path in use), ``isa_available`` (built and supported here),
    ``isa_built`` (compiled in), ``num_threads``, ``openmp``, ``blas``, ``blas_threads`` (always
    1: the BLAS runs inside sparse_rt's own parallel loops), ``cpu``.
    """
    return dict(_core.runtime_info())


def set_isa(isa: str) -> None:
    """Cap the instruction-set path (``"scalar"``, ``"avx2"`` or ``"avx512"``).

    Layers choose their kernel when they are created, so this affects layers and models created
    afterwards. Raises ``ValueError`` for an unknown name or a path this machine cannot run.
    """
    if not isinstance(isa, str):
        raise TypeError(f"isa must be a str, got {type(isa).__name__}")
    _core.set_isa(isa)


def get_isa() -> str:
    """The instruction-set path new layers are built for."""
    return _core.current_isa()


def set_num_threads(n: int) -> None:
    """Threads used by sparse_rt's kernels (default: physical cores)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    return _core.get_num_threads()
