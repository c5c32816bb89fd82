"""sparse_rt: a compiled sparse-inference runtime for CPUs.

``import sparse_rt`` needs numpy only (torch is imported lazily by ``sparse_rt.prune`` and the
exporter). The compiled core lives in the private extension ``sparse_rt._core``.

Environment variables, read at import (a bad value raises ``ValueError`` here):

* ``SPARSE_RT_ISA=scalar|avx2|avx512`` caps the instruction-set path.
* ``SPARSE_RT_NUM_THREADS=n`` sets the thread count (default: physical cores).
"""

from ._blas import preload_blas as _preload_blas

_preload_blas()

from . import _core  # noqa: E402
from .format import ModelFormatError  # noqa: E402
from .formats import BSR, CSR  # noqa: E402
from .runtime import (  # noqa: E402
    get_isa,
    get_num_threads,
    runtime_info,
    set_isa,
    set_num_threads,
)
from . import ops  # noqa: E402
from .exporter import ExportVerificationError, UnsupportedOpError, export  # noqa: E402
from .model import Model, load  # noqa: E402

_core._init()

__version__ = runtime_info()["version"]

__all__ = [
    "BSR",
    "ExportVerificationError",
    "CSR",
    "Model",
    "ModelFormatError",
    "get_isa",
    "get_num_threads",
    "export",
    "load",
    "ops",
    "runtime_info",
    "set_isa",
    "set_num_threads",
    "UnsupportedOpError",
    "__version__",
]
