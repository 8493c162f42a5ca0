"""A read-only install still runs: Numba's cache is pointed at a folder this user can write, before Numba loads.

Numba caches compiled kernels in `__pycache__` beside the source, then in a user folder; on a read-only
install (a system site-packages, a locked container) with an unwritable home, or with NUMBA_CACHE_DIR set to a
folder that cannot be written, the first `cache=True` compile fails. `ensure_writable_cache()` leaves a
working setting alone and otherwise sets NUMBA_CACHE_DIR to the suite's cache folder (kernels.runtime.cache,
itself falling back to the temp folder). It must run before `import numba` (numba reads the variable once).
"""

from __future__ import annotations

import os
from pathlib import Path

from kernels.runtime import cache

KERNELS = Path(__file__).resolve().parent.parent  # where Numba would put __pycache__ by default


def _can_write(folder: Path) -> bool:
    return cache.writable(folder) and os.access(folder, os.W_OK | os.X_OK)


def ensure_writable_cache(environ=os.environ) -> str | None:
    """Set NUMBA_CACHE_DIR where Numba could not write its cache; returns the folder set, or None if unchanged."""
    given = environ.get("NUMBA_CACHE_DIR")
    if given and _can_write(Path(given)):
        return None
    if not given and os.access(KERNELS, os.W_OK | os.X_OK):
        return None  # __pycache__ beside the kernels works
    try:
        folder = str(cache.cache_dir("numba"))
    except OSError:
        return None  # nowhere to write: Numba's own error will say so
    environ["NUMBA_CACHE_DIR"] = folder
    return folder
