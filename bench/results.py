"""One verified measurement, in the JSON shape of DESIGN.md (schema_version 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bench.timing import Timing, summarize

SCHEMA_VERSION = 1
ENERGY_SOURCES = ("nvml", "rapl", "estimate")


@dataclass
class Energy:
    joules: float  # per measured window (see `seconds`)
    watts: float  # mean power over the window
    source: str  # "nvml" | "rapl" | "estimate"
    seconds: float = 0.0  # length of the window the joules cover
    detail: str = ""  # e.g. "RAPL package-0" or "estimate from profile cpu/host tdp_w"

    def __post_init__(self):
        if self.source not in ENERGY_SOURCES:
            raise ValueError(f"energy source must be one of {ENERGY_SOURCES}, got {self.source!r}")


@dataclass
class Result:
    workload: str  # "sha256d" | "gemm" | "inference" (references: their own workload name)
    backend: str  # "numba-cpu", ... ; references: "hashlib", "numpy", "cublas"
    device: str  # human-readable device name
    params: dict  # gemm: m, n, k, dtype; inference: model, phase, batch, dtype; sha256d: count
    metric: str  # "hashes_per_s" | "flop_per_s" | "tokens_per_s"
    value: float  # median of `samples`
    unit: str  # "H/s", "FLOP/s", "tok/s"
    samples: list[float]  # per-repeat values of the metric
    stats: dict  # median, iqr, min, max, mean, cv, n of the samples
    verified: bool
    verification: str  # what was compared, e.g. "3 hits re-hashed with hashlib"
    energy: dict | None = None  # Energy as a dict
    complete: bool = True
    device_index: int = 0
    compile_s: float | None = None  # first call (JIT/compile + one run), excluded from samples
    reference: str | None = None  # the baseline this result is compared with, e.g. "hashlib sha256"
    ratio_to_reference: float | None = None
    extra: dict = field(default_factory=dict)  # workload-specific figures (efficiency, max_rel_error...)

    @property
    def noisy(self) -> bool:
        return self.stats.get("cv", 0.0) > 0.05

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        known = {f for f in cls.__dataclass_fields__}
        missing = [f for f in ("workload", "backend", "device", "metric", "value", "unit") if f not in data]
        if missing:
            raise ValueError(f"result is missing field(s) {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})


def from_timing(
    timing: Timing,
    *,
    work_per_call: float,
    workload: str,
    backend: str,
    device: str,
    params: dict,
    metric: str,
    unit: str,
    verified: bool,
    verification: str,
    **kw,
) -> Result:
    """Turn a Timing of calls that each do `work_per_call` units into a Result (value = median rate)."""
    rates = timing.rates(work_per_call)
    stats = summarize(rates)
    return Result(
        workload=workload,
        backend=backend,
        device=device,
        params=params,
        metric=metric,
        value=stats.median,
        unit=unit,
        samples=rates,
        stats=stats.to_dict(),
        verified=verified,
        verification=verification,
        compile_s=timing.first_call_s,
        **kw,
    )

