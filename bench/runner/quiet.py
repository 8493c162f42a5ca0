"""Wait, before a timed window, until no other thread of this process is running.

A library's worker threads keep running for a while after its last call. OpenBLAS's spin for 2**28
cycles by default (about 0.1 s), Intel's OpenCL runtime's TBB workers spin too. The float64 check of
one GEMM case runs on OpenBLAS just before the next case's timing. On the 2-core VMs those spinning
threads took a core from the next backend: numba-cpu SGEMM 256^3 in a `--quick` run gave 48-58 GFLOP/s
right after the check, and 85-94 with this wait. Linux only (/proc/self/task); elsewhere nothing is waited for.
"""

from __future__ import annotations

import os
import threading
import time

TASKS = "/proc/self/task"
POLL_S = 0.01
QUIET_POLLS = 2  # this many polls in a row with no other thread running
MAX_WAIT_S = 0.5  # a thread that runs for longer (a backend's own busy worker) is waited for no more


def running_threads() -> int | None:
    """How many threads of this process other than the caller are running now (state R); None off Linux."""
    try:
        tasks = os.listdir(TASKS)
    except OSError:
        return None
    me, running = threading.get_native_id(), 0
    for tid in tasks:
        if int(tid) == me:
            continue
        try:
            with open(f"{TASKS}/{tid}/stat", encoding="ascii") as f:
                state = f.read().rpartition(")")[2].split()[0]  # the name, in parentheses, may hold spaces
        except (OSError, IndexError):
            continue  # the thread ended meanwhile
        running += state == "R"
    return running


def wait_until_quiet(max_wait_s: float = MAX_WAIT_S) -> dict:
    """Poll until no other thread has been running for QUIET_POLLS polls in a row, or max_wait_s passes.
    Returns what the timing records: seconds waited, and the threads still running if it gave up."""
    t0 = time.perf_counter()
    quiet = 0
    busy = running_threads()
    while busy is not None:
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= QUIET_POLLS or time.perf_counter() - t0 >= max_wait_s:
            break
        time.sleep(POLL_S)
        busy = running_threads()
    waited = {"quiet_wait_s": round(time.perf_counter() - t0, 4)}
    if busy:
        waited["threads_still_running"] = busy
    return waited
