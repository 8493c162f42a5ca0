"""A fixed set of daemon worker threads with a blocking map: the CPU kernels' parts of a window or batch.

Why not concurrent.futures.ThreadPoolExecutor: it starts its (non-daemon) workers lazily and registers each
for the interpreter's exit only after the thread has started. A Ctrl-C or SIGTERM landing inside that start
left a worker that nothing would wake, and the process hung at exit after saving its run (seen in
tests/test_signals.py on a loaded 2-core machine). Here every worker is a daemon started up front: an
interrupted map abandons its parts (those not started are skipped) and the exit never waits for a worker.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future


class DaemonPool:
    """`threads` daemon workers; map(fn, *iterables) runs fn on them and returns the results in order."""

    def __init__(self, threads: int, name: str):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while True:
            fn, args, future = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue  # its map was interrupted before this part started
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which re-raises it
                future.set_exception(exc)

    def map(self, fn, *iterables) -> list:
        """[fn(*args) for args in zip(*iterables)], the calls spread over the workers; the first exception
        raised by a call is raised here. An interrupted map cancels the parts that have not started."""
        futures = []
        for args in zip(*iterables):
            futures.append(Future())
            self._tasks.put((fn, args, futures[-1]))
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()
