"""kernels/runtime/daemon_pool.py: results in order, errors raised, and no interrupted start or map that can
hold the interpreter's exit (the hang concurrent.futures' lazy workers allowed: tests/test_signals.py)."""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import time

import pytest

from kernels.runtime.daemon_pool import DaemonPool
from tests.cli import ROOT


def test_map_returns_in_order_and_raises_the_first_error():
    pool = DaemonPool(2, "test")
    assert pool.map(lambda a, b: a * b, range(7), range(7)) == [i * i for i in range(7)]
    assert all(t.daemon and t.is_alive() for t in pool.threads)
    with pytest.raises(ZeroDivisionError):
        pool.map(lambda x: 1 // x, [1, 0, 2])
    assert pool.map(str, []) == []


def test_an_interrupted_map_skips_the_parts_not_started():
    """The first part interrupts the main thread as Ctrl-C would (_thread.interrupt_main): the map raises
    KeyboardInterrupt, and the parts that had not started never run."""
    pool, ran = DaemonPool(2, "test"), []

    def part(i):
        if i == 0:
            _thread.interrupt_main()
        time.sleep(0.02)
        ran.append(i)

    with pytest.raises(KeyboardInterrupt):
        pool.map(part, range(40))
    time.sleep(0.3)
    assert len(ran) < 10  # the parts running when it raised, not all 40


# A Ctrl-C landing inside a worker's start, when the pool is made: the signal's KeyboardInterrupt raised just
# after the thread started. With ThreadPoolExecutor this process never exits.
INTERRUPTED_START = """
import sys, threading
from kernels.runtime.daemon_pool import DaemonPool
start = threading.Thread.start
def interrupted(self):
    start(self)
    raise KeyboardInterrupt
threading.Thread.start = interrupted
try:
    DaemonPool(2, "test")
except KeyboardInterrupt:
    print("interrupted", flush=True)
sys.exit(0)
"""


def test_a_start_interrupted_by_a_signal_does_not_hold_the_exit():
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_START], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout == "interrupted\n", proc.stderr
