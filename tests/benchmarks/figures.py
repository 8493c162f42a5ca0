"""Benchmark figures: recorded next to pytest-benchmark's timings, kept for the summary printed at the end.

`Figures.rate(name, work, unit)` turns the benchmark's median (and best) seconds per call into a rate
such as MH/s or GFLOP/s; `Figures.record(name, value, unit)` stores any other figure (a compile time).
Both land in `benchmark.extra_info` (so `--benchmark-json` keeps them) and in RECORDED, with the machine's
load average at the time, because the development machine is shared; tests/conftest.py prints them (those
of every xdist worker too). With $SITEBENCH_FIGURES_LOG set, each figure is also appended to that file as
one JSON line the moment it is recorded, so that a run stopped before its end (a deadline on a lent GPU)
keeps what it measured.
"""

from __future__ import annotations

import json
import os
import time

RECORDED: list[tuple[str, str]] = []  # (test node id, figure line), in recorded order

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _si(value: float, unit: str) -> str:
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


class Figures:
    def __init__(self, benchmark, nodeid: str):
        self.benchmark, self.nodeid = benchmark, nodeid
        benchmark.extra_info["loadavg_1min_before"] = os.getloadavg()[0]

    def record(self, name: str, value: float, unit: str) -> None:
        self.benchmark.extra_info[name] = value
        self.benchmark.extra_info[f"{name}_unit"] = unit
        load = os.getloadavg()[0]
        RECORDED.append((self.nodeid, f"{name} = {_si(value, unit)} (load {load:.2f})"))
        log = os.environ.get("SITEBENCH_FIGURES_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"test": self.nodeid, "name": name, "value": value, "unit": unit,
                                    "load_1min": load, "time": time.time()}) + "\n")

    def rate(self, name: str, work_per_call: float, unit: str) -> float | None:
        """Work per second at the median and at the best call; None when benchmarks are disabled."""
        stats = getattr(self.benchmark, "stats", None)
        if stats is None:
            return None
        median = work_per_call / stats.stats.median
        self.record(name, median, unit)
        self.record(f"{name}_best", work_per_call / stats.stats.min, unit)
        return median
