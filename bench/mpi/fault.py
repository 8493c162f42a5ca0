"""Test-only fault injection for MPI runs: make one rank raise or hang, to prove the job still ends.

    SITEBENCH_MPI_FAULT=rank:R:raise[:PHASE]    rank R raises in PHASE
    SITEBENCH_MPI_FAULT=rank:R:hang[:PHASE]     rank R stops answering in PHASE (sleeps until aborted)

PHASE is `cases` (the per-rank GEMM/inference/reference cases) or `sha256d` (the split nonce scan);
without it the fault strikes in the first of them that runs. It strikes once. Unset, nothing happens.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench.errors import UsageError

ENV = "SITEBENCH_MPI_FAULT"
ACTIONS = ("raise", "hang")
PHASES = ("cases", "sha256d")


class InjectedFault(RuntimeError):
    """What a rank raises when told to by SITEBENCH_MPI_FAULT."""


@dataclass
class Fault:
    rank: int
    action: str
    phase: str | None = None
    struck: bool = False

    def strike(self, rank: int, phase: str) -> None:
        """Raise or hang here if this is the rank and phase the fault names (once)."""
        if self.struck or rank != self.rank or (self.phase or phase) != phase:
            return
        self.struck = True
        if self.action == "raise":
            raise InjectedFault(f"fault injected by {ENV}=rank:{self.rank}:raise in phase {phase}")
        while True:  # "hang": only MPI_Abort from another rank ends this
            time.sleep(3600)


def parse(text: str | None) -> Fault | None:
    """`rank:R:raise|hang[:PHASE]` -> Fault; None for unset/empty; UsageError naming the rule otherwise."""
    if not text:
        return None
    parts = text.strip().split(":")
    ok = len(parts) in (3, 4) and parts[0] == "rank" and parts[1].isdigit() and parts[2] in ACTIONS
    if ok and len(parts) == 4 and parts[3] not in PHASES:
        ok = False
    if not ok:
        raise UsageError(f"{ENV}={text!r}: write rank:R:raise or rank:R:hang, optionally :PHASE with PHASE one of "
                         f"{', '.join(PHASES)} (e.g. rank:1:hang:sha256d)")
    return Fault(int(parts[1]), parts[2], parts[3] if len(parts) == 4 else None)


def from_env(env=os.environ) -> Fault | None:
    return parse(env.get(ENV))
