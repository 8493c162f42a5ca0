"""Honest timing: first call (JIT/compile) reported apart, calibrated repeats, robust statistics.

A measured call is `step()`; `sync()` waits for the device (GPU queues return before the work is done).
Each sample runs enough calls to last at least `min_sample_s`, so the harness's own overhead stays far
below 1% of a sample; that overhead (an empty step through the same loop and timer) is measured and
recorded as a fraction of a call. Repeats stop when the spread settles (CV of the samples <= `target_cv`,
after `min_repeats`), or when `budget_s` or `max_repeats` runs out; which one stopped it is recorded.
A slow step may end the budget before `min_repeats`; it never ends it before `FLOOR_REPEATS` samples.
GPU work is timed with device events (`cupy_event_timer(device)`, `numba_event_timer(device)`) after
synchronisation.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from kernels.runtime.events import cupy_event_timer, numba_event_timer  # noqa: F401 - re-exported for the workloads

NOISY_CV = 0.05  # a CV above this is flagged as noisy in every report
FLOOR_REPEATS = 3  # samples taken even when the budget is spent (a median and an IQR need a few)


@dataclass
class Stats:
    median: float
    iqr: float
    min: float
    max: float
    mean: float
    cv: float  # stdev / mean; 0 for a single sample
    n: int

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV

    def to_dict(self) -> dict:
        return {**asdict(self), "noisy": self.noisy}


def summarize(values) -> Stats:
    """Median, interquartile range, min, max, mean and coefficient of variation of the samples."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no samples to summarize")
    if len(xs) >= 2:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
        mean = statistics.fmean(xs)
        cv = statistics.stdev(xs) / mean if mean else 0.0
    else:
        q1 = q3 = mean = xs[0]
        cv = 0.0
    return Stats(statistics.median(xs), q3 - q1, min(xs), max(xs), mean, cv, len(xs))


class HostTimer:
    """Wall clock around the calls, with the device synchronised before the clock stops."""

    def __init__(self, sync: Callable[[], None] | None = None):
        self.sync = sync or (lambda: None)

    def start(self) -> None:
        self.sync()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self.sync()
        return time.perf_counter() - self._t0


@dataclass
class Timing:
    seconds: list[float]  # per call, one entry per sample
    first_call_s: float  # the first call: JIT/compile plus one run, excluded from the samples
    warmup_s: float  # the calibration call after it, also excluded
    calls_per_sample: int
    stopped_by: str  # "stable" | "budget" | "max_repeats"
    output: Any = field(default=None, repr=False)  # what the last timed call returned, for verification
    energy: Any = None  # what `meter.stop()` returned for the window of all samples (bench.power)
    window_s: float = 0.0  # wall time of that window
    window_calls: int = 0  # calls made inside it
    overhead: float = 0.0  # harness cost per call (loop + timer) as a fraction of the median call

    @property
    def stats(self) -> Stats:
        return summarize(self.seconds)

    def rates(self, work_per_call: float) -> list[float]:
        """Per-sample throughput (work per second), e.g. hashes/s from hashes per call."""
        return [work_per_call / s for s in self.seconds]

    def describe(self) -> dict:
        """How the samples were taken (JSON-able), for the run file."""
        return {
            "first_call_s": self.first_call_s,
            "warmup_s": self.warmup_s,
            "calls_per_sample": self.calls_per_sample,
            "stopped_by": self.stopped_by,
            "window_s": self.window_s,
            "window_calls": self.window_calls,
            "overhead": self.overhead,
        }


def _noop() -> None:
    return None


def harness_overhead(timer, calls: int) -> float:
    """Seconds per call that the sampling loop and its timer add on their own (an empty step)."""
    timer.start()
    for _ in range(calls):
        _noop()
    return timer.stop() / calls


def measure(
    step: Callable[[], Any],
    *,
    timer=None,
    min_sample_s: float = 0.05,
    min_repeats: int = 5,
    max_repeats: int = 200,
    budget_s: float = 3.0,
    target_cv: float = 0.02,
    meter=None,
) -> Timing:
    """Time `step` honestly; see the module docstring for the rules.

    `meter` (start()/stop(), e.g. a bench.power meter) brackets exactly the timed samples, so the energy
    it reports belongs to `window_calls` calls and excludes compile and warm-up.
    """
    timer = timer or HostTimer()
    timer.start()
    step()
    first = timer.stop()
    timer.start()
    step()
    warm = timer.stop()
    per_call = max(warm, 1e-9)
    calls = max(1, math.ceil(min_sample_s / per_call))
    samples: list[float] = []
    output = None
    stopped_by = "max_repeats"
    if meter is not None:
        meter.start()
    window_start = time.perf_counter()
    deadline = window_start + budget_s
    while len(samples) < max_repeats:
        timer.start()
        for _ in range(calls):
            output = step()
        samples.append(timer.stop() / calls)
        n = len(samples)
        if n >= min_repeats and summarize(samples).cv <= target_cv:
            stopped_by = "stable"
            break
        if n >= min(min_repeats, FLOOR_REPEATS) and time.perf_counter() >= deadline:
            stopped_by = "budget"
            break
    window_s = time.perf_counter() - window_start
    energy = meter.stop() if meter is not None else None
    overhead = harness_overhead(HostTimer(), calls) / max(statistics.median(samples), 1e-12)
    return Timing(
        samples, first, warm, calls, stopped_by, output, energy, window_s, calls * len(samples), overhead
    )
