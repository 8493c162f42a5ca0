"""The suite's own cache folder: compiled code and generated driver files, never the user's data.

`$SITEBENCH_CACHE_DIR` if set, else `$XDG_CACHE_HOME/sitebench`, else `~/.cache/sitebench`; where none of
these can be written (a read-only home, a locked-down container) the system temp folder is used instead, so
a read-only install still runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _candidates() -> list[Path]:
    if os.environ.get("SITEBENCH_CACHE_DIR"):
        return [Path(os.environ["SITEBENCH_CACHE_DIR"])]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(base) / "sitebench", Path(tempfile.gettempdir()) / f"sitebench-{os.getuid()}"]


def base_dir() -> Path:
    """The suite's cache folder as configured (not created, not checked)."""
    return _candidates()[0]


def writable(path: Path) -> bool:
    """True if `path` is (or can be made) a folder this process may write."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir(name: str) -> Path:
    """`<cache>/<name>`, created; the first candidate that can be written (OSError if none can)."""
    tried = []
    for base in _candidates():
        folder = base / name
        if writable(folder):
            return folder
        tried.append(str(folder))
    raise OSError(f"no writable cache folder (tried {', '.join(tried)}); set SITEBENCH_CACHE_DIR to one")


def write_if_changed(path: Path, text: str) -> None:
    """Write `text` to `path` atomically unless it already holds exactly that (concurrent runs agree)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
