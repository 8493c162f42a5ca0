"""Waiting for other threads to go quiet before a timed window (bench/runner/quiet.py)."""

import hashlib
import threading
import time
from contextlib import contextmanager

import pytest

from bench.runner import quiet

linux_only = pytest.mark.skipif(quiet.running_threads() is None, reason="reads /proc/self/task (Linux)")


@linux_only
def test_an_idle_process_is_quiet_at_once():
    waited = quiet.wait_until_quiet()
    assert waited["quiet_wait_s"] < 0.2 and "threads_still_running" not in waited


@linux_only
def test_a_spinning_thread_is_waited_for_until_it_stops():
    with spinning(0.15):
        assert quiet.running_threads() >= 1
        waited = quiet.wait_until_quiet()
    assert 0.08 <= waited["quiet_wait_s"] < quiet.MAX_WAIT_S and "threads_still_running" not in waited


@linux_only
def test_a_thread_that_never_stops_is_waited_for_no_longer_than_the_limit():
    with spinning(1.0):
        waited = quiet.wait_until_quiet(max_wait_s=0.1)
    assert 0.1 <= waited["quiet_wait_s"] < 0.5 and waited["threads_still_running"] >= 1


def test_off_linux_nothing_is_waited_for(monkeypatch):
    monkeypatch.setattr(quiet, "TASKS", "/nonexistent/task")
    assert quiet.running_threads() is None
    waited = quiet.wait_until_quiet()
    assert waited["quiet_wait_s"] < 0.05 and "threads_still_running" not in waited


@contextmanager
def spinning(seconds: float):
    """A thread busy for `seconds` without the GIL (hashlib releases it for large buffers), as a library's
    native worker is; the block runs once it has started."""
    until = time.perf_counter() + seconds
    data = bytes(1 << 20)

    def spin():
        while time.perf_counter() < until:
            hashlib.sha256(data)

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.02)
    try:
        yield
    finally:
        thread.join()
