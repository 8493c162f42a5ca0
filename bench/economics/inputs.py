"""Every number the plan rests on, flat, from the profiles (site, its [plan], market, ASIC, GPU) plus overrides.

`PlanInputs` is what the strategies read; `PLAUSIBLE` is the range each numeric input may take, with its unit,
so a figure in the wrong unit ($/kWh for $/MWh, difficulty in T) is refused before it is priced.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from bench.economics.snapshot import subsidy_btc

# name -> (low, high, unit): inclusive plausible bounds
PLAUSIBLE = {
    "years": (1, 30, "years"),
    "site_mw": (0.1, 10_000, "MW of facility power"),
    "pue_mining": (1.0, 2.0, "PUE (facility / IT power)"),
    "pue_gpuaas": (1.0, 2.0, "PUE (facility / IT power)"),
    "pue_hosting": (1.0, 2.0, "PUE (facility / IT power)"),
    "pue_tokens": (1.0, 2.0, "PUE (facility / IT power)"),
    "power_usd_per_mwh": (5.0, 1_000.0, "$/MWh"),
    "uptime": (0.3, 1.0, "fraction of hours"),
    "curtailment_usd_per_mwh": (0.0, 5_000.0, "$/MWh curtailed"),
    "btc_price_usd": (1_000.0, 10_000_000.0, "USD per BTC"),
    "btc_drift_per_year": (-0.5, 2.0, "fraction per year"),
    "difficulty": (1e12, 1e17, "full difficulty (148.26 T = 148.26e12)"),
    "difficulty_growth_monthly": (-0.10, 0.15, "fraction per month"),
    "fees_btc_per_block": (0.0, 5.0, "BTC per block"),
    "pool_fee": (0.0, 0.1, "fraction of revenue"),
    "asic_j_per_th": (5.0, 200.0, "J/TH"),
    "refresh_j_per_th": (5.0, 200.0, "J/TH"),
    "asic_usd_per_th": (0.0, 200.0, "USD per TH/s"),
    "gpu_system_w": (100.0, 20_000.0, "W per GPU"),
    "gpu_price_usd": (0.0, 1_000_000.0, "USD per GPU"),
    "gpu_hour_usd": (0.05, 50.0, "USD per GPU-hour"),
    "gpu_hour_decay_per_year": (0.0, 0.6, "fraction per year"),
    "gpu_utilization": (0.05, 1.0, "fraction of hours sold"),
    "tokens_per_s_per_gpu": (0.001, 1e6, "tokens/s per GPU"),
    "token_price_usd_per_m": (0.001, 1_000.0, "USD per million tokens"),
    "token_utilization": (0.01, 1.0, "fraction of peak throughput sold"),
    "ai_capex_usd_per_mw_it": (0.0, 50e6, "USD per MW of IT load"),
    "build_months": (0, 48, "months"),
    "hosting_build_months": (0, 48, "months"),
    "hosting_usd_per_kw_month": (5.0, 1_000.0, "USD per kW-month of IT load"),
    "lease_escalator": (0.0, 0.15, "fraction per year"),
    "lease_term_years": (1, 30, "years"),
    "tenant_fitout_share": (0.0, 1.0, "fraction of the hall capex"),
    "discount_rate": (0.0, 0.5, "fraction per year"),
    "tax_rate": (0.0, 0.6, "fraction of taxable income"),
    "debt_share": (0.0, 0.95, "fraction of capex"),
    "debt_rate": (0.0, 0.5, "fraction per year"),
    "debt_term_years": (1, 30, "years"),
    "phased_mw_per_year": (0.1, 10_000, "MW per year"),
    "split_mining_share": (0.0, 1.0, "fraction of the site"),
}


@dataclass(frozen=True)
class PlanInputs:
    """One site's plan inputs; money in USD, power in facility MW, rates per year unless named monthly."""

    years: int
    site_mw: float
    pue_mining: float
    pue_gpuaas: float
    pue_hosting: float
    pue_tokens: float
    power_usd_per_mwh: float
    uptime: float  # mining's powered fraction of hours; the rest is curtailed
    curtailment_usd_per_mwh: float
    btc_price_usd: float
    btc_drift_per_year: float
    difficulty: float
    difficulty_growth_monthly: float
    fees_btc_per_block: float
    block_height: int
    pool_fee: float
    asic_j_per_th: float
    refresh_j_per_th: float
    asic_usd_per_th: float
    asic_life_years: float
    asic_age_years: float
    asic_residual: float
    gpu_system_w: float
    gpu_price_usd: float
    gpu_hour_usd: float
    gpu_hour_decay_per_year: float
    gpu_utilization: float
    gpu_life_years: float
    gpu_residual: float
    gpu_lead_months: int
    tokens_per_s_per_gpu: float
    token_price_usd_per_m: float
    token_utilization: float
    ai_capex_usd_per_mw_it: float
    facility_life_years: float
    facility_residual: float
    build_months: int
    hosting_build_months: int
    tokens_build_months: int
    mining_stops_for_build: bool
    hosting_usd_per_kw_month: float
    lease_escalator: float
    lease_term_years: float
    tenant_fitout_share: float
    power_pass_through: bool
    opex_usd_per_mw_year: dict
    opex_share_of_revenue: dict
    discount_rate: float
    tax_rate: float
    debt_share: float
    debt_rate: float
    debt_term_years: float
    debt_cap_usd: float | None
    phased_mw_per_year: float
    split_mining_share: float
    ev_ebitda_mining: float
    ev_ebitda_ai: float
    btc_price_monthly: tuple = field(default=(), repr=False)  # a user's monthly path (overrides price and drift)

    @property
    def months(self) -> np.ndarray:
        return np.arange(1, self.years * 12 + 1)

    @property
    def subsidy_btc(self) -> float:
        return float(subsidy_btc(self.block_height))

    def replace(self, **changes) -> "PlanInputs":
        """A copy with `changes`, checked."""
        return check(dataclasses.replace(self, **changes))


def check(x: PlanInputs) -> PlanInputs:
    """ValueError naming the first input outside its plausible range, with its unit."""
    for name, (lo, hi, unit) in PLAUSIBLE.items():
        value = getattr(x, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{name} must be {lo:g} to {hi:g} {unit} (got {value!r})")
    if x.btc_price_monthly and not all(math.isfinite(p) and p > 0 for p in x.btc_price_monthly):
        raise ValueError("btc_price_monthly: every price must be a finite number > 0")
    if x.subsidy_btc + x.fees_btc_per_block <= 0:
        raise ValueError("mining earns nothing: the subsidy at this block height is 0 and fees are 0 BTC per block")
    return x


def from_profiles(site, market, asic, gpu, *, refresh_asic=None, tokens_per_s_per_gpu: float | None = None,
                  **overrides) -> PlanInputs:
    """The flat inputs of one site: profile figures, then `overrides` by PlanInputs field name.
    ValueError when the site has no [plan] or the market lacks a figure the plan needs."""
    plan = site.plan
    if plan is None:
        raise ValueError(f"site {site.id} has no [plan] table (opex, build months, lives, lease, tax); "
                         "see hardware_profiles/sites/default-18mw.toml")
    if market.gpu_hour_decay_per_year is None:
        raise ValueError(f"market {market.id} has no gpu_hour_decay_per_year (the plan needs it)")
    if gpu.id not in market.gpu_hour_usd and "gpu_hour_usd" not in overrides:
        raise ValueError(f"market {market.id} has no GPU-hour price for {gpu.id}; give one (--gpu-hour-price)")
    if tokens_per_s_per_gpu is None:  # a GPU without a serving figure cannot sell tokens: a floor, refused by plan
        tokens_per_s_per_gpu = gpu.ref_tokens_per_s or PLAUSIBLE["tokens_per_s_per_gpu"][0]
    refresh_asic = refresh_asic or asic
    fin = plan.financing
    val = market.valuation
    values = dict(
        years=plan.years, site_mw=site.facility_mw,
        pue_mining=site.pue_for("mining"), pue_gpuaas=site.pue_for("gpuaas"), pue_hosting=site.pue_for("hosting"),
        pue_tokens=site.pue_for("tokens"),
        power_usd_per_mwh=site.power_price_usd_per_mwh, uptime=site.uptime,
        curtailment_usd_per_mwh=plan.curtailment_usd_per_mwh,
        btc_price_usd=market.btc_price_usd, btc_drift_per_year=market.btc_price_drift_per_year,
        difficulty=market.difficulty, difficulty_growth_monthly=market.difficulty_growth_monthly,
        fees_btc_per_block=market.fees_btc_per_block, block_height=market.block_height, pool_fee=market.pool_fee,
        asic_j_per_th=asic.j_per_th, refresh_j_per_th=refresh_asic.j_per_th,
        asic_usd_per_th=refresh_asic.usd_per_th or market.asic_price_usd_per_th,
        asic_life_years=plan.life_years["asic"], asic_age_years=plan.asic_fleet_age_years,
        asic_residual=plan.residual_fraction["asic"],
        gpu_system_w=gpu.system_w_per_gpu, gpu_price_usd=gpu.price_usd or 0.0,
        gpu_hour_usd=market.gpu_hour_usd.get(gpu.id, 0.0), gpu_hour_decay_per_year=market.gpu_hour_decay_per_year,
        gpu_utilization=site.gpu_utilization, gpu_life_years=plan.life_years["gpu"],
        gpu_residual=plan.residual_fraction["gpu"], gpu_lead_months=plan.gpu_lead_months,
        tokens_per_s_per_gpu=tokens_per_s_per_gpu, token_price_usd_per_m=market.token_price_usd_per_m,
        token_utilization=site.token_utilization,
        ai_capex_usd_per_mw_it=site.ai_facility_capex_usd_per_mw_it, facility_life_years=plan.life_years["facility"],
        facility_residual=plan.residual_fraction["facility"],
        build_months=plan.build_months["gpuaas"], hosting_build_months=plan.build_months["hosting"],
        tokens_build_months=plan.build_months["tokens"], mining_stops_for_build=plan.mining_stops_for_build,
        hosting_usd_per_kw_month=market.hosting_usd_per_kw_month.mid,
        lease_escalator=plan.lease.escalator_per_year, lease_term_years=plan.lease.term_years,
        tenant_fitout_share=plan.lease.tenant_fitout_share, power_pass_through=plan.lease.power_pass_through,
        opex_usd_per_mw_year=dict(plan.opex_usd_per_mw_year), opex_share_of_revenue=dict(plan.opex_share_of_revenue),
        discount_rate=site.discount_rate, tax_rate=plan.tax_rate,
        debt_share=fin.debt_share if fin else 0.0, debt_rate=fin.rate_per_year if fin else 0.0,
        debt_term_years=fin.term_years if fin else 1, debt_cap_usd=fin.facility_usd if fin else None,
        phased_mw_per_year=min(plan.phased_mw_per_year, site.facility_mw), split_mining_share=plan.split_mining_share,
        ev_ebitda_mining=val.ev_ebitda_mining if val else 0.0, ev_ebitda_ai=val.ev_ebitda_ai if val else 0.0,
    )
    unknown = set(overrides) - set(values) - {"btc_price_monthly"}
    if unknown:
        raise ValueError(f"unknown plan input(s): {', '.join(sorted(unknown))}")
    values.update(overrides)
    if "btc_price_monthly" in values:
        values["btc_price_monthly"] = tuple(float(p) for p in values["btc_price_monthly"])
    return check(PlanInputs(**values))


def implausible(value: float, lo: float, hi: float, unit: str) -> str | None:
    """Why `value` is not a plausible figure in `unit` (None when it is): out of range, or in a wrong unit."""
    if not (isinstance(value, (int, float)) and math.isfinite(value)):
        return f"must be a finite number in {unit} (got {value!r})"
    if lo <= value <= hi:
        return None
    hint = ""
    if "$/MWh" in unit and 0 < value < 1:
        hint = f"; {value:g} looks like $/kWh ({value:g} $/kWh = {value * 1000:g} $/MWh)"
    elif "difficulty" in unit and 0 < value < 1e6:
        hint = f"; is it in T? give the full number ({value:g} T = {value:g}e12)"
    elif "fraction" in unit and 1 < value <= 100:
        hint = f"; {value:g} looks like a percentage (give {value / 100:g} for {value:g}%)"
    return f"must be {lo:g} to {hi:g} {unit} (got {value:g}{hint})"
