"""Writing output files atomically, JSON to a path or to stdout, and checking a destination before any work.

`check_destination` is called by every verb that writes (`--json`, `--out`, `--csv`) before it measures or
computes anything, so a typo in a path costs nothing: exit 2 with one line naming the flag, the path and the
fix. Writing can still fail at the end (the disk filled up meanwhile); callers then save elsewhere.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from bench.errors import UsageError

MIN_FREE_BYTES = 16 << 20  # a run folder with its plots is a few MB; less free space than this is a full disk


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write to a temporary file in the same folder, then rename: readers never see half a file.

    A destination that exists and is not a regular file (/dev/stdout, a FIFO, /dev/null) is written in place:
    renaming over it would replace the device itself.
    """
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    encoding = {} if mode == "wb" else {"encoding": "utf-8"}
    if _is_special(path):
        with open(path, mode, **encoding) as f:
            f.write(data)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should be as shareable as any file
        with os.fdopen(fd, mode, **encoding) as f:
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


def _is_special(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def emit_json(obj, dest: str, flag: str | None = None) -> None:
    """`dest` is '-' for stdout (and nothing else is printed there) or a file path.

    With `flag` (e.g. "--json"), a file that cannot be written is a UsageError naming the flag (exit 2)
    instead of an OSError; without it the caller handles the OSError (to save elsewhere)."""
    text = dumps(obj)
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_atomic(dest, text)
    except OSError as exc:
        if flag is None:
            raise
        raise UsageError(f"{flag} {dest}: cannot write it ({_why(exc)}); choose another path") from None


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above `path` (or `path` itself) that exists; a file on the way is returned as is."""
    here = path
    while not os.path.lexists(here):
        if here.parent == here:
            break
        here = here.parent
    return here


def _probe(folder: Path) -> OSError | None:
    """Can this process create a file in `folder`? (os.access says yes to root on read-only mounts.)"""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sitebench-probe-", dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    os.unlink(tmp)
    return None


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_destination(path: str | os.PathLike | None, kind: str = "file", flag: str = "--json") -> None:
    """UsageError (exit 2, one line) unless `path` can be written as a `kind` ("file" or "folder").

    '-' (stdout) and None pass. A file must not be a folder and its folder must be creatable and writable; a
    folder must not be a file and must be creatable and writable; either needs MIN_FREE_BYTES free. Nothing is
    created: the check probes the nearest existing folder with a temporary file it removes again.
    """
    if path is None or str(path) == "-":
        return
    if kind not in ("file", "folder"):
        raise ValueError(f"kind is 'file' or 'folder', not {kind!r}")
    text = str(path)
    if not text.strip():
        raise UsageError(f"{flag}: the path is empty; give a {kind} path")
    if "\x00" in text:
        raise UsageError(f"{flag}: the path holds a NUL character; give a {kind} path without it")
    target = Path(text).expanduser()
    try:
        try:
            os.lstat(target)  # a name too long, a symlink loop, a permission wall: said here, in one line
        except (FileNotFoundError, NotADirectoryError):
            pass
        if kind == "file":
            if target.is_dir():
                raise UsageError(f"{flag} {text} is a folder; give a file path such as {target / 'run.json'}")
            if _is_special(target):  # /dev/stdout, a FIFO: written in place
                if not os.access(target, os.W_OK):
                    raise UsageError(f"{flag} {text}: not writable by this user; choose another path")
                return
            folder = target.parent
        else:
            if os.path.lexists(target) and not target.is_dir():
                raise UsageError(f"{flag} {text} is a file, not a folder; give a folder path (it is created)")
            folder = target
        base = _existing_ancestor(folder)
        if not base.is_dir():
            raise UsageError(f"{flag} {text}: {base} is a file, so no folder can be made there; choose another path")
        problem = _probe(base)
        if problem is not None:
            hint = "a read-only or system folder" if problem.errno in (errno.EROFS, errno.EACCES, errno.EPERM,
                                                                      errno.ENOENT) else "cannot write there"
            raise UsageError(f"{flag} {text}: cannot write in {base} ({_why(problem)}; {hint}); choose a writable path")
        free = shutil.disk_usage(base).free
        if free < MIN_FREE_BYTES:
            raise UsageError(f"{flag} {text}: only {free >> 10} KiB free on that disk (a report needs a few MB); "
                             "free some space or choose another disk")
    except (OSError, ValueError) as exc:  # a symlink loop, a name too long, ...
        raise UsageError(f"{flag} {text}: {_why(exc) if isinstance(exc, OSError) else exc}; choose another path") from None


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
