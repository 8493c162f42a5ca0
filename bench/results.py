"""One verified measurement, and the run file that holds them, in the JSON shape of DESIGN.md (schema 1).

The run file: `schema_version`, `complete`, `run` (metadata, options, missing workloads, errors),
`results` (list of Result dicts) and, where profiles were applied, `economics`. `load_run` reads one
back and says in one line what is wrong with a file that is missing, corrupt or of another schema; the
pydantic models below (`RunFile` and its parts) are that schema: every field a report or a comparison reads
has its type checked, so a string `value` or a list `params` is exit 2 naming `results[0].value`, never a
traceback deep in a renderer. Unknown fields are kept (a newer run file still reads).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

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
        cv = (self.stats or {}).get("cv")
        return isinstance(cv, (int, float)) and cv > NOISY_CV

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


MAX_DEPTH = 64  # a run file nests about 6 deep; deeper is not a run file (and would exhaust the stack)


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("should be a number")  # "1.5" and true are not numbers in a run file
    return value


Num = Annotated[float, BeforeValidator(_number)]
Number = Optional[Num]
Texts = Optional[StrictStr]


class EnergyModel(_Part):
    joules: Number = None
    watts: Number = None
    source: Texts = None
    seconds: Number = None
    detail: Texts = None
    joules_per_unit: Number = None
    per: Texts = None


Count = Optional[StrictInt]


class ParamsModel(_Part):
    """The params a report reads (GEMM sizes, a buffer's bytes); the rest are kept as they are."""

    m: Count = None
    n: Count = None
    k: Count = None
    batch: Count = None
    prompt: Count = None
    bytes: Number = None


class StatsModel(_Part):
    median: Number = None
    iqr: Number = None
    min: Number = None
    max: Number = None
    mean: Number = None
    cv: Number = None
    n: Count = None


class TimingModel(_Part):
    prepare_s: Number = None
    first_call_s: Number = None
    warmup_s: Number = None
    window_s: Number = None
    verify_s: Number = None
    overhead: Number = None
    quiet_wait_s: Number = None  # waited before timing for other threads of the process to stop running
    threads_still_running: Count = None  # set when they had not stopped after bench.runner.quiet.MAX_WAIT_S


class ResultModel(_Part):
    workload: StrictStr
    backend: StrictStr
    device: StrictStr
    params: ParamsModel
    metric: StrictStr
    value: Number
    unit: StrictStr
    samples: list[Num]
    stats: StatsModel
    verified: StrictBool
    verification: StrictStr
    energy: Optional[EnergyModel] = None
    complete: StrictBool = True
    device_index: StrictInt = 0
    compile_s: Number = None
    reference: Texts = None
    ratio_to_reference: Number = None
    extra: dict[str, Any] = {}
    timing: Optional[TimingModel] = None
    is_reference: StrictBool = False


class CpuModel(_Part):
    model: Texts = None
    cores: Optional[StrictInt] = None
    memory_bytes: Optional[StrictInt] = None


class GpuModel(_Part):
    name: Texts = None
    memory_bytes: Optional[int] = None
    driver: Texts = None


class GitModel(_Part):
    commit: Texts = None
    dirty: Optional[bool] = None


class OptionsModel(_Part):
    quick: Optional[bool] = None
    budget: Optional[dict[str, Number]] = None


class NotRunModel(_Part):
    workload: Texts = None
    backend: Texts = None
    reason: Texts = None
    error: Texts = None


class RunMeta(_Part):
    timestamp: Texts = None
    hostname: Texts = None
    os: Texts = None
    python: Texts = None
    cpu: Optional[CpuModel] = None
    gpus: Optional[list[GpuModel]] = None
    git: Optional[GitModel] = None
    blas: Optional[list[dict[str, Any]]] = None
    blas_check: Optional[dict[str, Any]] = None
    thread_settings: Optional[dict[str, Optional[str]]] = None
    load_average: Optional[list[Num]] = None
    load_average_end: Optional[list[Num]] = None
    options: Optional[OptionsModel] = None
    wall_s: Number = None
    missing_workloads: Optional[list[NotRunModel]] = None
    skipped_backends: Optional[list[NotRunModel]] = None
    errors: Optional[list[NotRunModel]] = None
    interrupted_at: Texts = None
    economics_missing: Texts = None


class UseModel(_Part):
    revenue_usd_per_mw_year: Number = None
    margin_usd_per_mw_year: Number = None
    power_cost_usd_per_mw_year: Number = None
    pue: Number = None


class EconomicsModel(_Part):
    site: Any = None
    market: Any = None
    uses: Optional[list[UseModel]] = None
    mining_efficiency: Optional[list[dict[str, Any]]] = None
    sensitivity: Optional[dict[str, Any]] = None
    assumptions: Optional[list[Any]] = None


class RunFile(_Part):
    """A run file, schema 1 (`bench run` writes it; `bench report` and `bench compare` read it)."""

    schema_version: Literal[1]
    complete: StrictBool = True
    run: RunMeta
    results: list[ResultModel]
    economics: Optional[EconomicsModel] = None


def json_schema() -> dict:
    """The run file's JSON Schema (for other tools reading run files)."""
    return RunFile.model_json_schema()


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _depth(obj) -> int:
    """How deeply lists and objects nest (iteratively: a hostile file must not exhaust the stack)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


RUN_FILE = "run.json"  # the run file's name in the folder `python -m bench run --out` writes


def load_run(path: str | Path) -> dict:
    """Read and check a run file (or the RUN_FILE in a run folder); UsageError (exit 2) names the file and
    what is wrong with it."""
    path = Path(path)
    if path.is_dir() and (path / RUN_FILE).exists():
        path = path / RUN_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; give the run.json written by `python -m bench run`") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder without a {RUN_FILE}; give a run folder or the {RUN_FILE} written by "
                         "`python -m bench run`") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a run file (not UTF-8 text)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); is the file cut short?") from None
    except ValueError as exc:  # NaN / Infinity: JSON has neither, and a report cannot show them
        raise UsageError(f"{path}: not valid JSON ({exc}); the run file must hold finite numbers only") from None
    except RecursionError:
        raise UsageError(f"{path}: not a run file (nested more than {MAX_DEPTH} levels deep)") from None
    try:
        check_document(doc)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return doc


def check_document(doc) -> list[Result]:
    """ValueError naming the first field that breaks schema 1 and its path; the results as Result objects."""
    if not isinstance(doc, dict):
        raise ValueError("not a run file (the top level must be a JSON object)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version is {version!r}, this version of the suite reads schema_version {SCHEMA_VERSION}"
        )
    if _depth(doc) > MAX_DEPTH:
        raise ValueError(f"not a run file (nested more than {MAX_DEPTH} levels deep)")
    try:
        RunFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first.get("loc", ())))
        got = f" (got {_shown(first['input'])})" if "input" in first and first.get("type") != "missing" else ""
        raise ValueError(f"field {where}: {first.get('msg', 'invalid')}{got}") from None
    return [Result.from_dict(item) for item in doc["results"]]
