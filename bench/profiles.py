"""Hardware, site and market profiles: load `hardware_profiles/**/*.toml`, validate, look up.

Each file is one profile (DESIGN.md, "Hardware profiles"). Files live in `asic/`, `gpu/`, `cpu/`,
`sites/` and `market/` under the built-in folder and under every folder named in the environment
variable `SITEBENCH_PROFILES` (several joined with `os.pathsep`), so users add their own without
editing the suite. A bad file stops everything with one line that names the file, the field and the
rule (`bench.errors.UsageError`, exit 2), e.g. `hardware_profiles/sites/x.toml: pue: must be >= 1 (got 0.9)`.

The CPU the suite runs on gets a profile built from what `kernels.runtime.cpu` detects (`cpu/host`):
its peak GFLOP/s are derived from the vector flags and the clock, its TDP is an estimate, and both say so.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from bench import cpu_clock
from bench.errors import UsageError
from kernels.runtime import cpu

BUILTIN_DIR = Path(str(resources.files("hardware_profiles")))  # package data: works from a wheel as from a checkout
ENV_VAR = "SITEBENCH_PROFILES"
FOLDERS = {"asic": "asic", "gpu": "gpu", "cpu": "cpu", "site": "sites", "market": "market"}
USES = ("mining", "gpuaas", "hosting", "tokens")
DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8")
Dtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"]
Use = Literal["mining", "gpuaas", "hosting", "tokens"]


def _all_positive(table: dict, unit: str) -> dict:
    """Every value of a TOML table > 0; the error names the key."""
    for key, value in table.items():
        if not value > 0:
            raise ValueError(f"{key}: must be > 0 {unit} (got {value:g})")
    return table


class _Profile(BaseModel):
    """Fields every profile has; unknown fields are errors (a misspelt or wrongly-unitted name)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._+-]*$", max_length=64)
    name: str = Field(min_length=1)
    vendor: str = ""
    sources: list[str] = Field(min_length=1)
    _path: str = PrivateAttr(default="")

    @field_validator("sources")
    @classmethod
    def _sources_not_blank(cls, value: list[str]) -> list[str]:
        if any(not s.strip() for s in value):
            raise ValueError("every source must say where a figure comes from, with a date (got an empty string)")
        return value

    @property
    def path(self) -> str:
        return self._path

    def summary(self) -> str:
        """One line of the key figures, for `bench profiles`."""
        return ""


class AsicProfile(_Profile):
    kind: Literal["asic"] = "asic"
    hashrate_ths: float = Field(gt=0, le=100_000)  # TH/s, nameplate
    power_w: float = Field(ge=100, le=100_000)  # watts at the wall, nameplate
    efficiency_jth: float | None = Field(default=None, gt=0, le=1000)  # J/TH as published; checked
    cooling: Literal["air", "hydro", "immersion"]
    price_usd: float | None = Field(default=None, ge=0)
    price_usd_per_th: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _efficiency_agrees(self):
        if self.efficiency_jth is not None:
            derived = self.power_w / self.hashrate_ths
            if abs(derived - self.efficiency_jth) > 0.03 * self.efficiency_jth:
                raise ValueError(
                    f"efficiency_jth: {self.efficiency_jth:g} J/TH disagrees with power_w / hashrate_ths = "
                    f"{derived:.2f} J/TH by more than 3% (check the units: watts and TH/s)"
                )
        return self

    @property
    def j_per_th(self) -> float:
        return self.power_w / self.hashrate_ths

    @property
    def usd_per_th(self) -> float | None:
        if self.price_usd_per_th is not None:
            return self.price_usd_per_th
        return self.price_usd / self.hashrate_ths if self.price_usd is not None else None

    def summary(self) -> str:
        return f"{self.hashrate_ths:g} TH/s, {self.power_w:g} W, {self.j_per_th:.1f} J/TH, {self.cooling}"


class _Matching(_Profile):
    match: list[str] = Field(default_factory=list)  # regexes tried against a device name (case-insensitive)

    @field_validator("match")
    @classmethod
    def _regexes_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {pattern!r} ({exc})") from None
        return value

    def matches(self, device_name: str) -> bool:
        return any(re.search(p, device_name, re.IGNORECASE) for p in self.match)


class GpuProfile(_Matching):
    kind: Literal["gpu"] = "gpu"
    peak_tflops: dict[Dtype, float] = Field(min_length=1)  # dense, per GPU
    memory_gb: float = Field(gt=0, le=10_000)
    memory_tbs: float = Field(gt=0, le=100)  # TB/s (not GB/s)
    tdp_w: float = Field(ge=10, le=5_000)  # per GPU
    system_w_per_gpu: float = Field(ge=10, le=20_000)  # node + rack share per GPU, >= tdp_w
    price_usd: float | None = Field(default=None, ge=0)  # per GPU incl. its share of the server/rack
    ref_tokens_per_s: float | None = Field(default=None, gt=0)  # published serving throughput per GPU
    ref_model: str = ""

    @field_validator("peak_tflops")
    @classmethod
    def _peaks_positive(cls, value: dict) -> dict:
        return _all_positive(value, "TFLOP/s")

    @model_validator(mode="after")
    def _system_covers_tdp(self):
        if self.system_w_per_gpu < self.tdp_w:
            raise ValueError(
                f"system_w_per_gpu: must be >= tdp_w ({self.tdp_w:g} W) since it includes the GPU "
                f"(got {self.system_w_per_gpu:g})"
            )
        return self

    def summary(self) -> str:
        best = max(self.peak_tflops, key=self.peak_tflops.get)
        return (
            f"{self.peak_tflops[best]:g} TFLOP/s {best}, {self.memory_gb:g} GB @ {self.memory_tbs:g} TB/s, "
            f"TDP {self.tdp_w:g} W, system {self.system_w_per_gpu:g} W/GPU"
        )


class CpuProfile(_Matching):
    kind: Literal["cpu"] = "cpu"
    cores: int = Field(ge=1, le=100_000)
    peak_gflops: dict[Dtype, float] = Field(default_factory=dict)
    tdp_w: float = Field(gt=0, le=100_000)
    derived: bool = False  # True for the host profile: peaks derived, TDP estimated

    def summary(self) -> str:
        peak = ", ".join(f"{v:.0f} GFLOP/s {k}" for k, v in self.peak_gflops.items()) or "peak unknown"
        label = " (derived)" if self.derived else ""
        tdp = f"TDP {self.tdp_w:g} W" + (" (estimate)" if self.derived else "")
        return f"{self.cores} cores, {peak}{label}, {tdp}"


# --- the decision model's inputs (bench plan); every default lives in the profile files, with a source ---

AssetKind = Literal["asic", "gpu", "facility"]
AiUse = Literal["gpuaas", "hosting", "tokens"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeaseTerms(_Strict):
    """A hosting (colocation) lease: term, yearly escalator, NNN power pass-through, the tenant's fit-out share."""

    term_years: float = Field(gt=0, le=30)
    escalator_per_year: float = Field(ge=0, le=0.2)
    power_pass_through: bool = True
    tenant_fitout_share: float = Field(ge=0, le=1)  # share of the hall capex the tenant pays


class Financing(_Strict):
    """Debt on the conversion capex: share of each capex draw, yearly rate, straight-line amortisation term."""

    debt_share: float = Field(ge=0, le=0.95)
    rate_per_year: float = Field(ge=0, le=0.5)
    term_years: float = Field(gt=0, le=30)
    facility_usd: float | None = Field(default=None, gt=0)  # a committed facility caps the draws


class SeedClaims(_Strict):
    """Figures a company published about this site, which the plan reproduces and explains."""

    company: str = ""
    cost_per_btc_usd: float | None = Field(default=None, gt=0)
    revenue_potential_x: float | None = Field(default=None, gt=0)
    hosting_contract_usd_per_mw: float | None = Field(default=None, gt=0)
    financing_usd: float | None = Field(default=None, gt=0)
    finished: dt.date | None = None


class SitePlan(_Strict):
    """Costs, schedules, lives, lease, financing and tax of a site over time (`bench plan`)."""

    years: int = Field(ge=1, le=30)
    opex_usd_per_mw_year: dict[Use, float]  # per facility MW: staff, maintenance, network, insurance, software
    opex_share_of_revenue: dict[Use, float] = Field(default_factory=dict)
    build_months: dict[AiUse, int]  # construction before the first revenue
    gpu_lead_months: int = Field(ge=0, le=24)  # GPUs paid this many months before they earn
    mining_stops_for_build: bool = False  # the converted MW stop mining when construction starts
    life_years: dict[AssetKind, float]
    residual_fraction: dict[AssetKind, float]
    asic_fleet_age_years: float = Field(ge=0, le=15)
    refresh_asic: str | None = None  # the ASIC bought at a fleet refresh (default: the site's ASIC)
    curtailment_usd_per_mwh: float = Field(ge=0, le=5_000)  # demand-response income per MWh not drawn
    lease: LeaseTerms
    financing: Financing | None = None
    tax_rate: float = Field(ge=0, le=0.6)
    phased_mw_per_year: float = Field(gt=0, le=10_000)
    split_mining_share: float = Field(ge=0, le=1)
    capex_range_usd_per_mw_it: tuple[float, float] | None = None
    claims: SeedClaims | None = None
    sources: list[str] = Field(min_length=1)  # where each figure of the plan comes from, with a date

    @field_validator("opex_usd_per_mw_year")
    @classmethod
    def _opex(cls, value: dict) -> dict:
        for use in USES:
            if use not in value:
                raise ValueError(f"{use}: missing (give opex per facility MW-year for every use)")
        for use, v in value.items():
            if not 0 <= v <= 5e6:
                raise ValueError(f"{use}: must be >= 0 and <= 5e6 $/MW-year (got {v:g})")
        return value

    @field_validator("opex_share_of_revenue", "residual_fraction")
    @classmethod
    def _fractions(cls, value: dict) -> dict:
        for key, v in value.items():
            if not 0 <= v < 1:
                raise ValueError(f"{key}: must be a fraction >= 0 and < 1 (got {v:g})")
        return value

    @field_validator("build_months")
    @classmethod
    def _months(cls, value: dict) -> dict:
        for key in ("gpuaas", "hosting", "tokens"):
            if key not in value:
                raise ValueError(f"{key}: missing (months of construction before the first revenue)")
            if not 0 <= value[key] <= 60:
                raise ValueError(f"{key}: must be >= 0 and <= 60 months (got {value[key]})")
        return value

    @field_validator("life_years")
    @classmethod
    def _lives(cls, value: dict) -> dict:
        for key in ("asic", "gpu", "facility"):
            if key not in value:
                raise ValueError(f"{key}: missing (depreciation life in years)")
            if not 1 <= value[key] <= 40:
                raise ValueError(f"{key}: must be >= 1 and <= 40 years (got {value[key]:g})")
        return value

    @model_validator(mode="after")
    def _ranges(self):
        if self.capex_range_usd_per_mw_it is not None:
            lo, hi = self.capex_range_usd_per_mw_it
            if not 0 < lo <= hi:
                raise ValueError(f"capex_range_usd_per_mw_it: must be [low, high] with 0 < low <= high (got {[lo, hi]})")
        for key in ("asic", "gpu", "facility"):
            self.residual_fraction.setdefault(key, 0.0)
        return self


class Valuation(_Strict):
    """How the market prices a MW: EV/EBITDA multiples and EV per MW, for miners and for AI data centres."""

    ev_ebitda_mining: float = Field(gt=0, le=100)
    ev_ebitda_ai: float = Field(gt=0, le=100)
    ev_per_mw_mining_usd: float | None = Field(default=None, gt=0)
    ev_per_mw_ai_usd: float | None = Field(default=None, gt=0)


class Ranges(_Strict):
    """Low/high of the inputs the scenarios and the tornado move (absolute values, in each input's unit)."""

    btc_price_usd: tuple[float, float] | None = None
    gpu_hour_factor: tuple[float, float] | None = None  # x the market's GPU-hour price
    difficulty_growth_monthly: tuple[float, float] | None = None
    gpu_hour_decay_per_year: tuple[float, float] | None = None
    build_months: tuple[float, float] | None = None
    power_price_usd_per_mwh: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _ordered(self):
        for name in type(self).model_fields:
            pair = getattr(self, name)
            if pair is not None and not pair[0] <= pair[1]:
                raise ValueError(f"{name}: must be [low, high] with low <= high (got {list(pair)})")
        return self


class SiteProfile(_Profile):
    kind: Literal["site"] = "site"
    default: bool = False
    facility_mw: float = Field(gt=0, le=10_000)
    pue: float = Field(ge=1, le=3)
    pue_range: tuple[float, float] | None = None
    pue_by_use: dict[Use, float] = Field(default_factory=dict)
    power_price_usd_per_mwh: float = Field(ge=0, le=5_000)
    uptime: float = Field(gt=0, le=1)
    default_asic: str | None = None
    default_gpu: str | None = None
    gpu_utilization: float = Field(default=0.9, gt=0, le=1)
    token_utilization: float = Field(default=0.6, gt=0, le=1)
    mining_infra_capex_usd_per_mw: float = Field(default=0.0, ge=0)
    ai_facility_capex_usd_per_mw_it: float = Field(default=0.0, ge=0)
    discount_rate: float = Field(default=0.10, ge=0, lt=1)
    horizon_years: float = Field(default=3, gt=0, le=30)
    plan: SitePlan | None = None  # costs over time for `bench plan`; a site without it cannot be planned

    @field_validator("power_price_usd_per_mwh")
    @classmethod
    def _per_mwh(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError(f"must be in $/MWh, not $/kWh (got {value:g}; $0.045/kWh = 45 $/MWh)")
        return value

    @field_validator("pue_by_use")
    @classmethod
    def _use_pues(cls, value: dict) -> dict:
        for use, pue in value.items():
            if not 1 <= pue <= 3:
                raise ValueError(f"{use}: must be >= 1 and <= 3 (got {pue:g})")
        return value

    @model_validator(mode="after")
    def _pue_in_range(self):
        if self.pue_range is not None:
            lo, hi = self.pue_range
            if not 1 <= lo <= hi:
                raise ValueError(f"pue_range: must be [low, high] with 1 <= low <= high (got {list(self.pue_range)})")
            if not lo <= self.pue <= hi:
                raise ValueError(f"pue: must lie in pue_range {list(self.pue_range)} (got {self.pue:g})")
        return self

    def pue_for(self, use: str) -> float:
        """The PUE this site applies to one use (its own, or the site's)."""
        return self.pue_by_use.get(use, self.pue)

    def summary(self) -> str:
        uses = ", ".join(f"{u} {p:g}" for u, p in self.pue_by_use.items())
        return (
            f"{self.facility_mw:g} MW, PUE {self.pue:g}" + (f" ({uses})" if uses else "")
            + f", ${self.power_price_usd_per_mwh:g}/MWh, uptime {self.uptime:.0%}"
            + (" [default]" if self.default else "")
        )


class HostingRates(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float = Field(gt=0)
    mid: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low <= self.mid <= self.high:
            raise ValueError(f"must satisfy low <= mid <= high (got {self.low:g}, {self.mid:g}, {self.high:g})")
        return self


class MarketProfile(_Profile):
    kind: Literal["market"] = "market"
    date: dt.date
    btc_price_usd: float = Field(gt=0)
    difficulty: float = Field(gt=0)
    fees_btc_per_block: float = Field(ge=0, le=100)
    block_height: int = Field(ge=0)
    pool_fee: float = Field(default=0.0, ge=0, lt=1)
    difficulty_growth_monthly: float = Field(default=0.0, gt=-0.5, lt=1)
    hashprice_published_usd_per_ph_day: float | None = Field(default=None, gt=0)
    asic_price_usd_per_th: float = Field(default=0.0, ge=0)
    gpu_hour_usd: dict[str, float] = Field(default_factory=dict)
    hosting_usd_per_kw_month: HostingRates
    token_price_usd_per_m: float = Field(gt=0)
    token_model: str = ""
    token_model_params_b: float | None = Field(default=None, gt=0, le=10_000)  # billions of parameters
    gpu_hour_decay_per_year: float | None = Field(default=None, ge=0, lt=1)  # GPU-hour price fall per year
    btc_price_drift_per_year: float = Field(default=0.0, gt=-1, le=5)
    valuation: Valuation | None = None
    ranges: Ranges | None = None

    @field_validator("difficulty")
    @classmethod
    def _full_difficulty(cls, value: float) -> float:
        if value < 1e6:
            raise ValueError(f"must be the full difficulty, not in T (got {value:g}; 148.26 T = 148.26e12)")
        return value

    @field_validator("gpu_hour_usd")
    @classmethod
    def _prices_positive(cls, value: dict) -> dict:
        return _all_positive(value, "$/GPU-hour")

    def summary(self) -> str:
        return (
            f"{self.date}: BTC ${self.btc_price_usd:,.0f}, difficulty {self.difficulty / 1e12:.2f} T, "
            f"fees {self.fees_btc_per_block:g} BTC/block, {len(self.gpu_hour_usd)} GPU prices"
        )


MODELS = {"asic": AsicProfile, "gpu": GpuProfile, "cpu": CpuProfile, "site": SiteProfile, "market": MarketProfile}
Profile = AsicProfile | GpuProfile | CpuProfile | SiteProfile | MarketProfile


# --- error messages ----------------------------------------------------------------------------


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


UNITS = {"hashrate_ths": "TH/s", "power_w": "W", "tdp_w": "W", "system_w_per_gpu": "W", "memory_gb": "GB",
         "memory_tbs": "TB/s", "facility_mw": "MW", "power_price_usd_per_mwh": "$/MWh"}


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _rule(err: dict) -> str:
    """One pydantic error as a rule a person can act on: 'must be >= 1 (got 0.9)'."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    ops = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in ops:
        unit = UNITS.get(str(err["loc"][-1]) if err["loc"] else "", "")
        positive = isinstance(got, (int, float)) and got > 0
        hint = f"; is it in {unit}?" if unit and positive else ""
        return f"must be {ops[kind]} {_num(next(iter(ctx.values())))}{' ' + unit if unit else ''} (got {_num(got)}{hint})"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check its name and unit, e.g. power_w in watts, memory_tbs in TB/s)"
    if kind == "too_short":
        return f"must list at least {ctx.get('min_length')} item(s) (got {got!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {got!r})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"must be lower-case letters, digits, '.', '_', '+' or '-' (got {got!r})"
    return f"{err['msg'].lower()} (got {got!r})"


def _describe(path: Path, exc: ValidationError) -> str:
    """The most telling error first: an unknown field (often a wrong unit) explains a missing one."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    rule = _rule(first)
    missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
    if first["type"] == "extra_forbidden" and missing:
        rule += f"; missing: {', '.join(missing)}"
    more = len(errors) - 1 - (len(missing) if first["type"] == "extra_forbidden" else 0)
    return f"{_display(path)}: {loc + ': ' if loc else ''}{rule}{f' (and {more} more)' if more else ''}"


# --- loading -----------------------------------------------------------------------------------


def _parse(path: Path, kind: str) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{_display(path)}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{_display(path)}: cannot read ({exc})") from None
    declared = data.get("kind", kind)
    if declared != kind:
        raise UsageError(f"{_display(path)}: kind: must be {kind!r} for a file in {FOLDERS[kind]}/ (got {declared!r})")
    data["kind"] = kind
    try:
        profile = MODELS[kind].model_validate(data)
    except ValidationError as exc:
        raise UsageError(_describe(path, exc)) from None
    profile._path = _display(path)
    return profile


def profile_dirs() -> list[Path]:
    """The built-in folder, then each folder in $SITEBENCH_PROFILES (each must exist)."""
    dirs = [BUILTIN_DIR]
    for entry in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        folder = Path(entry).expanduser()
        if not folder.is_dir():
            raise UsageError(f"{ENV_VAR}: {entry} is not a folder (it should hold asic/, gpu/, sites/, market/ ...)")
        dirs.append(folder)
    return dirs


class _CpuProfiles(dict):
    """The CPU profiles by id, with the host's (`cpu/host`) made on first look: deriving its peak may time
    the clock (about a second), which `economics` and `plan` never need."""

    def __init__(self, make_host=None):
        super().__init__()
        self.make_host = make_host

    def _host(self) -> None:
        if self.make_host is not None:
            make, self.make_host = self.make_host, None
            dict.__setitem__(self, "host", make())

    def __getitem__(self, key):
        if key == "host":
            self._host()
        return super().__getitem__(key)

    def __contains__(self, key):
        if key == "host":
            self._host()
        return super().__contains__(key)

    def __iter__(self):
        self._host()
        return super().__iter__()

    def __len__(self):
        self._host()
        return super().__len__()

    def get(self, key, default=None):
        if key == "host":
            self._host()
        return super().get(key, default)

    def values(self):
        self._host()
        return super().values()

    def items(self):
        self._host()
        return super().items()

    def keys(self):
        self._host()
        return super().keys()


@dataclass
class ProfileSet:
    """Every profile found, by kind, with lookups. Build one with `load()`."""

    by_kind: dict[str, dict[str, Profile]] = field(default_factory=lambda: {k: {} for k in FOLDERS})

    def lookup(self, profile_id: str) -> list[Profile]:
        """Every hardware profile (ASIC, GPU, CPU, the host included) with this id."""
        return [self.by_kind[k][profile_id] for k in ("asic", "gpu", "cpu") if profile_id in self.by_kind[k]]

    def add(self, profile: Profile) -> None:
        known = self.by_kind[profile.kind]
        if profile.id in known:
            raise UsageError(
                f"{profile.path}: id: duplicate id {profile.id!r}, already defined in {known[profile.id].path} "
                "(ids must be unique per kind; rename one)"
            )
        known[profile.id] = profile

    def all(self) -> list[Profile]:
        return [p for kind in FOLDERS for p in self.by_kind[kind].values()]

    def find(self, kind: str, profile_id: str) -> Profile:
        """The profile of that kind and id; UsageError listing the ids there are."""
        if kind not in FOLDERS:
            raise UsageError(f"unknown profile kind {kind!r}; kinds: {', '.join(FOLDERS)}")
        found = self.by_kind[kind].get(profile_id)
        if found is None:
            ids = ", ".join(sorted(self.by_kind[kind])) or "none"
            raise UsageError(f"no {kind} profile {profile_id!r}; {kind} profiles: {ids} (see `python -m bench profiles`)")
        return found

    def default_site(self) -> SiteProfile:
        sites = list(self.by_kind["site"].values())
        marked = [s for s in sites if s.default]
        if len(marked) == 1:
            return marked[0]
        if not marked and len(sites) == 1:
            return sites[0]
        if not sites:
            raise UsageError("no site profile found; add one under hardware_profiles/sites/")
        names = ", ".join(s.path for s in (marked or sites))
        raise UsageError(f"default: exactly one site must say default = true (found {len(marked)}: {names})")

    def latest_market(self) -> MarketProfile:
        markets = list(self.by_kind["market"].values())
        if not markets:
            raise UsageError("no market snapshot found; add one under hardware_profiles/market/")
        return max(markets, key=lambda m: (m.date, m.id))

    def for_device(self, device) -> GpuProfile | CpuProfile | None:
        """The profile of a `kernels.runtime.DeviceInfo`: a GPU by its name (e.g. 'NVIDIA H100 80GB HBM3'
        -> h100-sxm), a CPU by a CPU profile's `match` or else the host profile; None for an unknown GPU."""
        if device.kind == "gpu":
            return next((g for g in self.by_kind["gpu"].values() if g.matches(device.name)), None)
        cpus = [c for c in self.by_kind["cpu"].values() if c.id != "host" and c.matches(device.name)]
        return cpus[0] if cpus else self.by_kind["cpu"]["host"]

    def check_references(self) -> None:
        """Ids one profile names must exist (site defaults, market GPU prices)."""
        for site in self.by_kind["site"].values():
            for attr, kind in (("default_asic", "asic"), ("default_gpu", "gpu")):
                ref = getattr(site, attr)
                if ref is not None and ref not in self.by_kind[kind]:
                    raise UsageError(f"{site.path}: {attr}: no {kind} profile {ref!r}")
            refresh = site.plan.refresh_asic if site.plan else None
            if refresh is not None and refresh not in self.by_kind["asic"]:
                raise UsageError(f"{site.path}: plan.refresh_asic: no asic profile {refresh!r}")
        for market in self.by_kind["market"].values():
            for gpu in market.gpu_hour_usd:
                if gpu not in self.by_kind["gpu"]:
                    raise UsageError(f"{market.path}: gpu_hour_usd.{gpu}: no gpu profile {gpu!r}")
        self.default_site()


def load(dirs: list[Path] | None = None, *, host: CpuProfile | None = None, measure_clock: bool = True) -> ProfileSet:
    """Read and validate every profile in `dirs` (default: `profile_dirs()`); the host CPU's profile is `host`
    or made on first use (its clock measured only with `measure_clock`)."""
    result = ProfileSet()
    result.by_kind["cpu"] = _CpuProfiles((lambda: host) if host else (lambda: host_cpu(measure_clock=measure_clock)))
    for folder in dirs if dirs is not None else profile_dirs():
        for kind, sub in FOLDERS.items():
            for path in sorted((Path(folder) / sub).glob("*.toml")):
                result.add(_parse(path, kind))
    result.check_references()
    return result


@lru_cache(maxsize=4)
def _cached(key: tuple[str, ...]) -> ProfileSet:
    return load([Path(k) for k in key])


def profiles() -> ProfileSet:
    """The profiles of this process (built-in + $SITEBENCH_PROFILES), loaded once per folder list."""
    return _cached(tuple(str(d) for d in profile_dirs()))


def find(kind: str, profile_id: str) -> Profile:
    return profiles().find(kind, profile_id)


def default_site() -> SiteProfile:
    return profiles().default_site()


def latest_market() -> MarketProfile:
    return profiles().latest_market()


def for_device(device) -> GpuProfile | CpuProfile | None:
    return profiles().for_device(device)


# --- the host CPU, from what it detects --------------------------------------------------------

WATTS_PER_CORE_ESTIMATE = 6.0  # a server core's share of package power (360 W / 96 cores = 3.75; 350 W / 56 = 6.25)


def fma_pipes(model: str, flags: set[str]) -> int:
    """Vector FMA pipes per core: the Arm core's own count where its part is known (4 x 128 bits on Grace's
    Neoverse V2), else two."""
    return (cpu.arm_fma_pipes(model) if "asimd" in flags else None) or 2


def flops_per_cycle(model: str, flags: set[str]) -> dict[str, float]:
    """Peak FLOP (int8: ops) per cycle per core from the vector flags and `fma_pipes`.

    AMD Zen 4 executes AVX-512 on 256-bit pipes (no avx512_vp2intersect, which Zen 5 has), so its
    vector width counts as 256 bits. AMX tiles: 1024 bf16 FLOP and 2048 int8 ops per cycle. On Arm, NEON
    is 128 bits; SDOT (asimddp) does 4 int8 multiply-adds per fp32 lane, BFDOT (bf16) 2.
    """
    if "avx512f" in flags:
        bits = 256 if "AMD" in model.upper() and "avx512_vp2intersect" not in flags else 512
    elif "avx2" in flags and "fma" in flags:
        bits = 256
    else:
        bits = 128
    fp32 = bits / 32 * 2 * fma_pipes(model, flags)  # lanes x FMA (2 FLOP) x pipes
    result = {"fp64": fp32 / 2, "fp32": fp32}
    if "amx_bf16" in flags:
        result["bf16"] = 1024.0
    elif "avx512_bf16" in flags or "bf16" in flags:
        result["bf16"] = fp32 * 2
    if "amx_int8" in flags:
        result["int8"] = 2048.0
    elif "avx512_vnni" in flags or "avx_vnni" in flags or "asimddp" in flags:
        result["int8"] = fp32 * 4
    return result


def host_cpu(model: str | None = None, flags=None, cores: int | None = None, ghz: float | None = None,
             *, measure_clock: bool = True) -> CpuProfile:
    """The profile of this machine's CPU (id 'host'): detected model/cores/flags, derived peaks, estimated TDP.
    Without `measure_clock` the clock comes from cpufreq only (no timing), else the peak is left underived."""
    model = model if model is not None else cpu.cpu_model()
    flags = set(flags if flags is not None else cpu.cpu_flags())
    cores = cores if cores is not None else cpu.usable_cores()
    if ghz is not None:
        how = "given"
    elif measure_clock:
        ghz, how = cpu_clock.max_ghz()
    else:
        ghz, how = cpu_clock.kernel_max_ghz(), "cpufreq cpuinfo_max_freq"
        if ghz is None:
            how = "not measured (`python -m bench profiles --clock` times it)"
    per_cycle = flops_per_cycle(model, flags)
    peaks = {k: cores * ghz * v for k, v in per_cycle.items()} if ghz and math.isfinite(ghz) else {}
    clock = f"{ghz:.2f} GHz ({how})" if ghz else f"unknown clock (no peak derived{'' if how == 'given' else '; ' + how})"
    return CpuProfile(
        id="host",
        name=model,
        vendor=model.split()[0] if model else "",
        cores=cores,
        peak_gflops=peaks,
        tdp_w=WATTS_PER_CORE_ESTIMATE * cores,
        derived=True,
        sources=[
            f"detected here: {model}, {cores} usable cores, {clock} (kernels.runtime.cpu, /proc/cpuinfo)",
            "derived: peak_gflops = cores x clock x FLOP/cycle from the vector flags, assuming "
            f"{fma_pipes(model, flags)} FMA pipes "
            f"({', '.join(f'{k} {v:g}' for k, v in per_cycle.items())} per cycle); not measured",
            f"estimate: tdp_w = {WATTS_PER_CORE_ESTIMATE:g} W per usable core (a server core's share of package power)",
        ],
    )
