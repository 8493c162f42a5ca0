"""A tiny workload for harness tests: a NumPy sum measured against a reference, with switchable faults.

`loader(...)` returns a function in the shape of `bench.runner.planner.workload_module`, so a test can run the
whole `bench.runner` pipeline (plan, measure, verify, save, report) in well under a second.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bench.backends import Selected
from bench.workloads import Case
from kernels.runtime import DeviceInfo

CPU = DeviceInfo(0, "Test CPU <b>[bold]|pipe|[/bold]", "cpu", 1 << 30, "x86_64", "", 2)


def _case(workload: str, backend: str, n: int, *, reference: bool = False, wrong: bool = False,
          interrupt_after: int | None = None, raises: bool = False) -> Case:
    data = np.arange(n, dtype=np.float64)
    expected = float(data.sum())
    calls = {"n": 0}

    def prepare():
        def step():
            calls["n"] += 1
            if interrupt_after is not None and calls["n"] > interrupt_after:
                raise KeyboardInterrupt
            if raises:
                raise RuntimeError("driver fell over")
            return float(data.sum()) + (1.0 if wrong else 0.0)

        return step

    def verify(out):
        return out == expected, f"sum of {n} numbers vs {expected}"

    return Case(
        workload=workload, backend=backend, device=CPU, params={"count": n}, metric="hashes_per_s", unit="H/s",
        work_per_call=float(n), prepare=prepare, verify=verify, is_reference=reference,
        reference=None if reference else f"{workload}/hashlib:0/count={n}",
        extra=lambda s: {"seconds_per_call": s}, label=f"sum {n}",
    )


def loader(*, wrong: bool = False, interrupt: bool = False, raises: bool = False, missing=("gemm", "inference")):
    """A `load(workload)` for bench.runner: 'sha256d' gets a reference and two backends, the rest are missing."""

    def cases(selected, *, quick):
        return [
            _case("sha256d", "numba-cpu", 20_000, wrong=wrong),
            _case("sha256d", "hashlib", 20_000, reference=True),
            _case("sha256d", "opencl", 20_000, interrupt_after=5 if interrupt else None, raises=raises),
            _case("sha256d", "hashlib", 20_000, reference=True),  # a duplicate key: planned once
        ]

    def load(name):
        if name in missing:
            return None
        return SimpleNamespace(cases=cases)

    return load


def choose(workload, specs, skipped):
    """Stands in for bench.runner.planner.select: one CPU device, whatever is installed."""
    return [Selected("numba-cpu", None, CPU)]
