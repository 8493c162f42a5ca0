"""SIGINT, SIGTERM and SIGHUP as one exception, and a save that no further signal can interrupt.

A batch scheduler's SIGTERM, a dropped ssh session's SIGHUP and Ctrl-C all end a run the same way: the
results so far are saved, marked incomplete, and the process exits 128 + the signal number (130, 143, 129).
The first signal raises `Stopped` in the main thread; from that moment every later signal is only counted,
never raised, so a burst of Ctrl-C cannot cut the save short (the handler itself switches before raising,
which leaves no window between the raise and the `except` that saves). Leaving the `with` on a stop keeps
them ignored, so the way out (the message, the exit code) cannot be interrupted either.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; `exit_code` is 128 + its number, as a shell reports a signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def exit_code(exc: BaseException) -> int:
    """130 for a plain KeyboardInterrupt, 128 + n for Stopped(n)."""
    return getattr(exc, "exit_code", 128 + signal.SIGINT)


class Stops:
    """For the length of a `with`: the stop signals raise Stopped (first) or are counted (after `hold`)."""

    def __init__(self):
        self.pending: list[int] = []
        self._saved: dict[int, object] = {}
        self._active = False

    def __enter__(self) -> "Stops":
        if threading.current_thread() is threading.main_thread():
            self._saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
            self._install(self._raise)
            self._active = True
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self._active and kind is not None and issubclass(kind, KeyboardInterrupt):
            # The process is ending on a stop: later signals are ignored from here to the exit. (Not counted by
            # a Python handler: the interpreter resets those to the default at shutdown, and a late Ctrl-C
            # would then kill the process with no exit code of ours; SIG_IGN survives shutdown.)
            self._install(signal.SIG_IGN)
            self._active = False
            return
        if self._active:
            for s, handler in self._saved.items():
                signal.signal(s, handler)
            self._active = False

    def _install(self, handler) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, handler)

    def _raise(self, signum, frame) -> None:
        self.hold()
        raise Stopped(signum)

    def _count(self, signum, frame) -> None:
        self.pending.append(signum)

    def hold(self) -> None:
        """From now on signals are only counted (call before saving; `Stopped` has already called it)."""
        if self._active:
            self._install(self._count)

    @contextmanager
    def held(self):
        """Signals are counted, not raised, inside; the first one counted is in `pending` afterwards."""
        self.hold()
        yield self

    def first_pending(self) -> Stopped | None:
        return Stopped(self.pending[0]) if self.pending else None
