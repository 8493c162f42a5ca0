"""One verified measurement, and the run file that holds them, in the JSON shape of DESIGN.md (schema 1).

The run file: `schema_version`, `complete`, `run` (metadata, options, missing workloads, errors),
`results` (list of Result dicts) and, where profiles were applied, `economics`. `load_run` reads one
back and says in one line what is wrong with a file that is missing, corrupt or of another schema.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import UsageError
from bench.timing import NOISY_CV, Timing, summarize

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
    timing: dict = field(default_factory=dict)  # how the samples were taken (Timing.describe())
    is_reference: bool = False  # the machine's own baseline (hashlib, NumPy/BLAS, cuBLAS)
    device_kind: str = ""  # "cpu" | "gpu" | "simulator": what the device is (older run files: "")

    @property
    def noisy(self) -> bool:
        return (self.stats or {}).get("cv", 0.0) > NOISY_CV

    @property
    def key(self) -> str:
        """Pairs the same measurement across runs: workload, backend, device index and params."""
        params = ",".join(f"{k}={self.params[k]}" for k in sorted(self.params or {}))
        return f"{self.workload}/{self.backend}:{self.device_index}/{params}"

    @property
    def joules_per_unit(self) -> float | None:
        return (self.energy or {}).get("joules_per_unit")

    @property
    def fraction_of_peak(self) -> float | None:
        """The fraction of the device's dense peak a workload reported (GEMM: `extra.fraction_of_peak`)."""
        value = (self.extra or {}).get("fraction_of_peak")
        return float(value) if isinstance(value, (int, float)) else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        if not isinstance(data, dict):
            raise ValueError(f"a result must be an object, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        required = ("workload", "backend", "device", "params", "metric", "value", "unit", "samples", "stats",
                    "verified", "verification")
        missing = [f for f in required if f not in data]
        if missing:
            raise ValueError(f"result is missing field(s) {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})


def energy_dict(energy: Energy, work: float, unit: str) -> dict:
    """The Energy of a window that did `work` metric units, with joules per unit ('J/H', 'J/FLOP', ...)."""
    out = asdict(energy)
    out["joules_per_unit"] = energy.joules / work if work > 0 else None
    out["per"] = unit.split("/")[0]  # 'H/s' -> 'H': the unit one joule figure is per
    return out


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
        timing=timing.describe(),
        **kw,
    )


def jsonable(obj):
    """`obj` with NumPy scalars/arrays as plain numbers/lists and NaN/inf as None (JSON has neither)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalar or array
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run_document(run: dict, results: list[Result], *, complete: bool, economics: dict | None = None) -> dict:
    """The whole run file: metadata, results in the order they ran, economics where computed."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "complete": complete,
        "run": run,
        "results": [r.to_dict() for r in results],
    }
    if economics is not None:
        doc["economics"] = economics
    return jsonable(doc)


def load_run(path: str | Path) -> dict:
    """Read and check a run file; UsageError (exit 2) names the file and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the run.json written by `python -m bench run`") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; give the run.json inside it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); is the file cut short?") from None
    try:
        check_document(doc)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return doc


def check_document(doc) -> list[Result]:
    """ValueError naming the first thing that breaks schema 1; the results as Result objects otherwise."""
    if not isinstance(doc, dict):
        raise ValueError("not a run file (the top level must be a JSON object)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version is {version!r}, this version of the suite reads schema_version {SCHEMA_VERSION}"
        )
    if not isinstance(doc.get("run"), dict):
        raise ValueError("field 'run' (the run metadata) is missing or not an object")
    if not isinstance(doc.get("results"), list):
        raise ValueError("field 'results' is missing or not a list")
    out = []
    for i, item in enumerate(doc["results"]):
        try:
            out.append(Result.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"results[{i}]: {exc}") from None
    return out
