"""Exchanges between the ranks of a run that cannot hang: every wait polls a non-blocking request.

Rank 0 leads. A run is a sequence of phases, the same on every rank; each phase has a deadline
(`begin`). At the end of a phase every rank sends its status to rank 0 (`gather`: an isend that the
sender polls), rank 0 takes them (Iprobe + recv per rank) until the deadline and answers everyone
with one verdict (`decide`): go on with these parameters, or exit with this code. A rank that has
not reported by the deadline is named by rank 0, which saves its report and ends the job with
`MPI.COMM_WORLD.Abort` (the only way to stop a rank stuck inside a kernel). A rank that hears nothing
from rank 0 by the deadline plus `GRACE_S` aborts the job itself, naming rank 0.

Waiting ranks sleep `POLL_S` between polls: MPICH's blocking calls spin, and a spinning rank would take
a core from the ranks still working (two ranks on two cores). Each exchange has its own tag, so a late
message can never be taken for another phase's.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

POLL_S = 0.002
GRACE_S = 30.0  # how much longer than rank 0 a rank waits for rank 0's verdict (report writing)


@dataclass
class Gathered:
    """Rank 0's view of one gather: the statuses that arrived, by rank, and the ranks that did not."""

    values: dict[int, object] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


class Team:
    """COMM_WORLD with deadlines. `clock` is MPI.Wtime; `sleep` is injectable for tests."""

    def __init__(self, comm, clock, *, sleep=time.sleep, stderr=None):
        self.comm, self.clock, self.sleep = comm, clock, sleep
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.stderr = stderr or sys.stderr
        self.phase, self.timeout_s, self.deadline = "start", 0.0, float("inf")
        self._tag = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def begin(self, phase: str, timeout_s: float) -> None:
        """Start a phase: every exchange until the next `begin` must finish `timeout_s` from now."""
        self.phase, self.timeout_s, self.deadline = phase, float(timeout_s), self.clock() + float(timeout_s)

    def _next_tag(self) -> int:
        self._tag += 1
        return self._tag

    def _poll(self, ready, deadline: float) -> bool:
        """Poll `ready()` until it is true (True) or the deadline passes (False); always polls once."""
        while True:
            if ready():
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(POLL_S)

    def gather(self, value) -> Gathered | None:
        """Every rank's `value` at rank 0 (a Gathered, with the late ranks in `missing`); None elsewhere."""
        tag = self._next_tag()
        if not self.leader:
            request = self.comm.isend(value, dest=0, tag=tag)
            if not self._poll(lambda: request.Test(), self.deadline + GRACE_S):
                self.abort(1, f"rank {self.rank}: rank 0 did not take the status of phase '{self.phase}' "
                              f"within {self.timeout_s + GRACE_S:.0f} s; ending the job")
            return None
        got = Gathered({0: value})
        pending = set(range(1, self.size))

        def arrived() -> bool:
            for source in sorted(pending):
                if self.comm.Iprobe(source=source, tag=tag):
                    got.values[source] = self.comm.recv(source=source, tag=tag)
                    pending.discard(source)
            return not pending

        self._poll(arrived, self.deadline)
        got.missing = sorted(pending)
        return got

    def decide(self, verdict=None):
        """Rank 0 sends `verdict` to every rank and returns it; the others wait for it and return it."""
        tag = self._next_tag()
        if self.leader:
            requests = [self.comm.isend(verdict, dest=r, tag=tag) for r in range(1, self.size)]
            self._poll(lambda: all(r.Test() for r in requests), self.clock() + GRACE_S)
            return verdict
        if not self._poll(lambda: self.comm.Iprobe(source=0, tag=tag), self.deadline + GRACE_S):
            self.abort(1, f"rank {self.rank}: no word from rank 0 in phase '{self.phase}' within "
                          f"{self.timeout_s + GRACE_S:.0f} s (rank 0 failed or hangs); ending the job")
        return self.comm.recv(source=0, tag=tag)

    def barrier(self) -> None:
        """All ranks here before any goes on (Ibarrier polled against the phase deadline)."""
        request = self.comm.Ibarrier()
        if not self._poll(lambda: request.Test(), self.deadline):
            self.abort(1, f"rank {self.rank}: not every rank reached the barrier of phase '{self.phase}' "
                          f"within {self.timeout_s:.0f} s; ending the job")

    def abort(self, code: int, message: str) -> None:
        """Say why on stderr, then end every rank of the job (MPI_Abort): the last resort."""
        print(f"error: {message}", file=self.stderr, flush=True)
        self.comm.Abort(code)
        os._exit(code)  # an MPI whose Abort returns before the launcher kills us: go now all the same
