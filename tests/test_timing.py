import math
import time

import pytest

from bench import timing
from bench.timing import FLOOR_REPEATS, HostTimer, measure, summarize
from kernels.runtime import events


class FakeClock:
    """perf_counter stand-in: time moves only when a fake step says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def test_summarize_known_values():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median == 3.0
    assert s.min == 1.0 and s.max == 100.0
    assert s.iqr == pytest.approx(4.0 - 2.0)
    assert s.mean == pytest.approx(22.0)
    assert s.cv == pytest.approx((7610 / 4) ** 0.5 / 22)  # sample stdev / mean
    assert s.noisy and s.to_dict()["noisy"] is True
    assert s.n == 5


def test_summarize_one_sample_and_none():
    s = summarize([2.5])
    assert (s.median, s.iqr, s.cv, s.n) == (2.5, 0.0, 0.0, 1)
    with pytest.raises(ValueError, match="no samples"):
        summarize([])


def test_first_call_is_reported_apart_and_never_a_sample(clock):
    durations = iter([4.0] + [0.0625] * 1000)  # the first call "compiles" for 4 s

    def step():
        clock.now += next(durations)
        return "out"

    t = measure(step, min_sample_s=0.25, min_repeats=5, budget_s=10.0)
    assert t.first_call_s == 4.0
    assert t.warmup_s == 0.0625
    assert t.calls_per_sample == 4  # 0.25 s / 0.0625 s per call
    assert all(s == 0.0625 for s in t.seconds)
    assert t.stopped_by == "stable" and len(t.seconds) == 5
    assert t.output == "out"


def test_noisy_step_stops_at_the_budget(clock):
    flip = [0]

    def step():
        flip[0] += 1
        clock.now += 0.01 if flip[0] % 2 else 0.03

    t = measure(step, min_sample_s=0.0, min_repeats=5, budget_s=0.5, target_cv=0.01)
    assert t.stopped_by == "budget"
    assert t.window_s >= 0.5
    assert summarize(t.seconds).cv > 0.01


def test_slow_step_takes_at_least_the_floor_of_samples(clock):
    def step():
        clock.now += 2.0

    t = measure(step, min_repeats=5, budget_s=0.1)
    assert len(t.seconds) == FLOOR_REPEATS
    assert t.stopped_by == "budget"


def test_max_repeats_ends_it(clock):
    flip = [0]

    def step():
        flip[0] += 1
        clock.now += 0.01 * (1 + flip[0] % 3)

    t = measure(step, min_sample_s=0.0, max_repeats=7, budget_s=1e9, target_cv=0.0)
    assert len(t.seconds) == 7 and t.stopped_by == "max_repeats"


def test_meter_brackets_exactly_the_timed_calls():
    calls = []

    class Meter:
        def start(self):
            self.at_start = len(calls)

        def stop(self):
            return ("energy", len(calls) - self.at_start)

    def step():
        calls.append(1)
        time.sleep(0.001)

    t = measure(step, min_sample_s=0.003, min_repeats=3, budget_s=0.05, meter=Meter())
    assert t.energy == ("energy", t.window_calls)
    assert t.window_calls == len(calls) - 2  # the first call and the calibration call are outside
    assert t.window_calls == t.calls_per_sample * len(t.seconds)


def test_timer_is_synchronised_around_the_calls():
    events = []
    t = measure(lambda: events.append("step"), timer=HostTimer(lambda: events.append("sync")),
                min_sample_s=0.0, min_repeats=3, max_repeats=3)
    assert events[:3] == ["sync", "step", "sync"]
    assert len(t.seconds) == 3


def test_event_timers_report_device_elapsed_time():
    class FakeEvent:
        def __init__(self, log, at):
            self.log, self.at = log, at

        def record(self):
            self.log.append(self.at)

        def synchronize(self):
            self.log.append("sync")

    class Timer(events._EventTimer):
        def __init__(self):
            self.log = []
            self._begin, self._end = FakeEvent(self.log, "begin"), FakeEvent(self.log, "end")
            self._elapsed_ms = lambda: 250.0

    t = Timer()
    t.start()
    assert t.stop() == 0.25
    assert t.log == ["begin", "end", "sync"]  # the end event is waited for before reading


def test_harness_overhead_is_recorded_as_a_fraction_of_a_call():
    t = measure(lambda: time.sleep(0.002), min_sample_s=0.01, min_repeats=3, budget_s=0.05)
    assert 0 < t.overhead < 1
    d = t.describe()
    assert set(d) >= {"first_call_s", "warmup_s", "calls_per_sample", "stopped_by", "window_s", "overhead"}
    assert math.isfinite(d["overhead"])


def test_rates_turn_seconds_into_throughput():
    t = timing.Timing([0.5, 0.25], 1.0, 0.5, 1, "stable")
    assert t.rates(100.0) == [200.0, 400.0]
