"""Load the BLAS that the extension links (the scipy-openblas32 wheel) before the extension,
and oneDNN (the onednn-cpu-gomp wheel) when it is installed.

The extension's RPATH already points at ``site-packages/scipy_openblas32/lib``; loading the
library explicitly first also covers layouts where that relative path does not hold (editable
installs, vendored environments). Once loaded, the dynamic linker reuses it by soname.
"""

import ctypes
import os


def preload_blas() -> None:
    preload_onednn()
    try:
        import scipy_openblas32
    except ImportError:  # a build against another BLAS: nothing to preload
        return
    lib_dir = scipy_openblas32.get_lib_dir()
    path = os.path.join(lib_dir, f"lib{scipy_openblas32.get_library()}.so")
    if os.path.exists(path):
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def preload_onednn() -> None:
    """Load oneDNN (the onednn-cpu-gomp wheel, used by the dense convolution path) by path.

    The wheel puts ``libdnnl.so.3`` in ``<prefix>/lib``, which the extension's RPATH reaches from
    ``<prefix>/lib/pythonX.Y/site-packages/sparse_rt``; this covers the other layouts
    (``pip install --target``, editable installs). A build without oneDNN needs nothing.
    """
    try:
        from importlib import metadata

        files = metadata.distribution("onednn-cpu-gomp").files or []
    except Exception:  # not installed: a build against the system oneDNN, or none
        return
    candidates = [f for f in files if f.name.startswith("libdnnl.so")]
    candidates.sort(key=lambda f: (f.name != "libdnnl.so.3", f.name))
    for f in candidates:
        path = f.locate()
        if os.path.exists(path):
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return
