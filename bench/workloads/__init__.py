"""Workload definitions: what to measure, never how (the harness owns timing, energy and output).

Each workload is a module `bench/workloads/<workload>.py` exposing

    cases(selected: list[bench.backends.Selected], *, quick: bool) -> list[Case]

which returns the cases for the given backends/devices plus the machine's own references for that
workload (hashlib for SHA-256d, NumPy/cuBLAS for GEMM), marked `is_reference=True`. A case declares
its sizes and the work one call does; `bench.run` prepares it, times it with `bench.timing.measure`,
meters energy, verifies the output and turns it into a `bench.results.Result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kernels.runtime import DeviceInfo


@dataclass
class Case:
    workload: str
    backend: str  # backend name, or the reference's name ("hashlib", "numpy", "cublas")
    device: DeviceInfo
    params: dict  # JSON-able; the DESIGN.md params of this workload
    metric: str  # "hashes_per_s" | "flop_per_s" | "tokens_per_s"
    unit: str  # "H/s" | "FLOP/s" | "tok/s"
    work_per_call: float  # metric units one call of step() does (hashes, FLOP, tokens)
    prepare: Callable[[], Callable[[], Any]]  # compile / upload, then return step()
    verify: Callable[[Any], tuple[bool, str]]  # step()'s output -> (ok, what was compared)
    sync: Callable[[], None] | None = None  # wait for the device; None on synchronous CPU code
    timer: Callable[[], Any] | None = None  # factory of a device-event timer (bench.timing); default host
    is_reference: bool = False
    reference: str | None = None  # `key` of the reference case this one is shown as a ratio to
    extra: Callable[[float], dict] | None = None  # seconds per call -> extra figures (efficiency...)
    label: str = ""  # short description for progress displays

    @property
    def key(self) -> str:
        """Identifies the case inside one run, e.g. 'gemm/numpy:0/m=2048,n=2048,k=2048,dtype=fp32'."""
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.workload}/{self.backend}:{self.device.index}/{params}"

    @property
    def device_label(self) -> str:
        return self.device.name
