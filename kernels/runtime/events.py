"""GPU event timers: seconds between two events on a GPU's stream, for the backends' `Traits.event_timer`."""

from __future__ import annotations

import contextlib


class _EventTimer:
    """Seconds between two device events recorded on the current stream of the timer's GPU.

    Subclasses create the events on that GPU and make it current (`_on_device`) around every record:
    an event recorded while another GPU is current would time that GPU's (empty) stream instead.
    """

    def _on_device(self):
        return contextlib.nullcontext()

    def start(self) -> None:
        with self._on_device():
            self._begin.record()

    def stop(self) -> float:
        with self._on_device():
            self._end.record()
            self._end.synchronize()
            return self._elapsed_ms() / 1e3


class cupy_event_timer(_EventTimer):
    """CuPy events on GPU `device` (a CuPy device index)."""

    def __init__(self, device: int = 0):
        import cupy

        self._device = device
        self._cuda = cupy.cuda
        with self._on_device():
            self._begin, self._end = cupy.cuda.Event(), cupy.cuda.Event()
        self._elapsed_ms = lambda: cupy.cuda.get_elapsed_time(self._begin, self._end)

    def _on_device(self):
        return self._cuda.Device(self._device)


class numba_event_timer(_EventTimer):
    """Numba events on GPU `device` (a Numba device index), recorded on the default stream."""

    def __init__(self, device: int = 0):
        from numba import cuda

        self._device = device
        self._cuda = cuda
        with self._on_device():
            self._begin, self._end = cuda.event(timing=True), cuda.event(timing=True)
        self._elapsed_ms = lambda: cuda.event_elapsed_time(self._begin, self._end)

    def _on_device(self):
        return self._cuda.gpus[self._device]
