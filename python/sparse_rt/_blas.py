"""Load the BLAS that the extension links (the scipy-openblas32 wheel) before the extension.

The extension's RPATH already points at ``site-packages/scipy_openblas32/lib``; loading the
library explicitly first also covers layouts where that relative path does not hold (editable
installs, vendored environments). Once loaded, the dynamic linker reuses it by soname.
"""

import ctypes
import os


def preload_blas() -> None:
    try:
        import scipy_openblas32
    except ImportError:  # a build against another BLAS: nothing to preload
        return
    lib_dir = scipy_openblas32.get_lib_dir()
    path = os.path.join(lib_dir, f"lib{scipy_openblas32.get_library()}.so")
    if os.path.exists(path):
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
