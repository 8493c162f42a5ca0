"""Writing output files atomically, and JSON to a path or to stdout."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path

from bench.errors import UsageError


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should be as shareable as any file
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def emit_json(obj, dest: str) -> None:
    """`dest` is '-' for stdout (and nothing else is printed there) or a file path."""
    text = dumps(obj)
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(dest, text)


def check_finite(obj, where: str) -> None:
    """UsageError naming the first number that is not finite (JSON cannot carry NaN or infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise UsageError(f"{where} is not a finite number ({obj}); an input is far outside its plausible range")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{where}[{i}]")


def write_output(flag: str, dest: str, text: str) -> None:
    """`text` to stdout ('-') or to a file; UsageError (one line) when the path cannot be written."""
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if os.path.isdir(dest):
        raise UsageError(f"{flag}: {dest} is a folder; give a file path")
    try:
        write_atomic(dest, text)
    except IsADirectoryError:
        raise UsageError(f"{flag}: {dest} is a folder; give a file path") from None
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write {dest} ({exc.strerror or exc})") from None
