"""Outcomes of kernel trials kept on disk, so that a kernel tried on a GPU once is not tried in every process.

A trial (a kernel's first run on a GPU, in a child process: isolated.py) costs a child's start and a
compile, and a hang costs the whole deadline; `bench run`, the GPU tests and the benchmarks each start new
processes. An outcome is kept under <cache>/trials/ by a key made of everything that decides it (the
caller names the parts: the GPU, its driver, the kernel's source and options, the check), so a changed
source or driver is simply a new key. Only lasting outcomes are kept: a pass, and a hang; anything else
(a wrong result, a crash, a compile error) is cheap to meet again and may have been the moment's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kernels.runtime import cache

FOLDER = "trials"


@dataclass(frozen=True)
class Outcome:
    problem: str | None  # None: the kernel passed


def key(**parts) -> str:
    """A file name for the trial these parts (JSON-able) describe."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _path(trial_key: str) -> Path:
    return cache.cache_dir(FOLDER) / f"{trial_key}.json"


def recall(trial_key: str) -> Outcome | None:
    """The kept outcome of this trial, or None if there is none (or it cannot be read). A kept problem
    says where it is kept, so that a reader can delete it to have the kernel tried again."""
    try:
        path = _path(trial_key)
        problem = json.loads(path.read_text(encoding="utf-8"))["problem"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if problem is None:
        return Outcome(None)
    return Outcome(f"{problem} (an earlier trial's outcome, kept in {path}: delete it to try again)")


def remember(trial_key: str, problem: str | None, what: dict) -> None:
    """Keep an outcome (`what`: the key's parts, written beside it for a reader); a cache that cannot be
    written only means the trial runs again next time."""
    try:
        cache.write_if_changed(_path(trial_key), json.dumps({"problem": problem, "trial": what}, indent=1, default=str))
    except OSError:
        pass
