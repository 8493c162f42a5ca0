"""The conversion decision: every strategy on one site over one horizon, ranked by NPV, with a verdict.

`build_plan(site, market, asic, gpu, ...) -> Plan`; `Plan.to_dict()` is the `plan --json` contract
(DESIGN.md): per strategy `name`, `npv_usd`, `irr`, `equity_irr`, `payback_month`, `capex_usd`,
`peak_funding_usd`, `cash_flows` (month, revenue_usd, power_usd, opex_usd, capex_usd, financing_usd, tax_usd,
net_usd); top level `discount_rate` and `ranking`. `npv_usd` = sum(net_usd / (1 + discount_rate)^(month/12)).
`Plan.verdict` is the one sentence: who wins, by how much, and the two inputs whose break-even is nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.economics import claims as seed_claims
from bench.economics import finance, inputs, scenarios, strategies
from bench.economics.measured import Measurement, scale_to_target

# inputs whose break-even value (where the winner and the runner-up swap) the verdict looks for
BREAK_EVENS = {
    "btc_price_usd": ("BTC price", "USD"),
    "gpu_hour_usd": ("GPU-hour price", "USD/GPU-hour"),
    "hosting_usd_per_kw_month": ("lease rate", "USD/kW-month"),
    "build_months": ("build time", "months"),
    "power_usd_per_mwh": ("power price", "USD/MWh"),
}


CONVENTIONS = {
    "months": "1..N, each paid at its end; t = month / 12 years",
    "npv_usd": "sum(net_usd / (1 + discount_rate) ** (month / 12)) over cash_flows",
    "net_usd": "revenue_usd - power_usd - opex_usd - capex_usd + financing_usd - tax_usd (equity cash flow)",
    "cash_flows.capex_usd": "spent minus received for assets sold (a refreshed GPU generation at its residual; "
                            "everything still held at the horizon at its straight-line book value, last month)",
    "capex_usd": "gross capex spent over the horizon (no disposals)",
    "irr": "annual rate giving NPV 0 of net_usd - financing_usd (the project); null when nothing is invested first",
    "equity_irr": "annual rate giving NPV 0 of net_usd; null when nothing is invested first",
    "payback_month": "first month whose cumulative net_usd is >= 0; null if never",
    "peak_funding_usd": "-min(cumulative net_usd, 0)",
    "ev_usd": "EBITDA of the last 12 months x the market's EV/EBITDA multiple of its kind (mining or AI)",
}


@dataclass
class StrategyResult:
    name: str
    label: str
    npv_usd: float
    irr: float | None  # project (before financing), annual
    equity_irr: float | None  # of net_usd, annual
    payback_month: int | None
    capex_usd: float  # gross, over the horizon
    peak_funding_usd: float
    ebitda_year1_usd: float
    ebitda_year3_usd: float | None
    ev_usd: float  # EBITDA of the last full year x the multiple of its kind (mining or AI)
    ev_per_mw_usd: float
    cash_flows: list[dict]
    yearly: list[dict]
    notes: list[str]

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Plan:
    site: str
    market: str
    asic: str
    gpu: str
    years: int
    site_mw: float
    discount_rate: float
    basis: str  # "published" | "measured", and what it means
    basis_detail: str
    strategies: list[StrategyResult]
    ranking: list[str]
    verdict: str
    break_evens: dict
    scenarios: dict
    tornado: list[dict]
    seed: dict | None
    assumptions: list[str]
    inputs: dict = field(default_factory=dict)

    def strategy(self, name: str) -> StrategyResult:
        return next(s for s in self.strategies if s.name == name)

    def to_dict(self) -> dict:
        return {
            "site": self.site, "market": self.market, "asic": self.asic, "gpu": self.gpu, "years": self.years,
            "site_mw": self.site_mw, "discount_rate": self.discount_rate, "basis": self.basis,
            "basis_detail": self.basis_detail, "ranking": self.ranking, "verdict": self.verdict,
            "strategies": [s.to_dict() for s in self.strategies], "break_evens": self.break_evens,
            "scenarios": self.scenarios, "tornado": self.tornado, "seed": self.seed,
            "assumptions": self.assumptions, "inputs": self.inputs, "conventions": CONVENTIONS,
        }


def npv_of(name: str, x: inputs.PlanInputs) -> float:
    cash = strategies.evaluate(name, x).cash
    return finance.npv(cash.net, cash.months, x.discount_rate)


def summarise(s: strategies.Strategy, x: inputs.PlanInputs) -> StrategyResult:
    c = s.cash
    n = c.months.size
    last = slice(max(0, n - 12), n)
    mining_ebitda = float(c.ebitda[last].sum() - c.ai_ebitda[last].sum())
    ev = max(0.0, mining_ebitda) * x.ev_ebitda_mining + max(0.0, float(c.ai_ebitda[last].sum())) * x.ev_ebitda_ai
    return StrategyResult(
        s.name, s.label, finance.npv(c.net, c.months, x.discount_rate), finance.irr(c.project_net, c.months),
        finance.irr(c.net, c.months), finance.payback_month(c.net, c.months), c.gross_capex_usd,
        finance.peak_funding(c.net), float(c.ebitda[:12].sum()),
        float(c.ebitda[24:36].sum()) if n >= 36 else None, ev, ev / x.site_mw, c.rows(), c.yearly(), s.notes)


def _changes(attr: str, value: float) -> dict:
    if attr == "build_months":
        v = int(round(value))
        return {"build_months": v, "hosting_build_months": v, "tokens_build_months": v}
    return {attr: value}


def break_even(x: inputs.PlanInputs, winner: str, other: str, attr: str) -> float | None:
    """The value of `attr` at which `other`'s NPV equals `winner`'s (None if none in the plausible range)."""
    lo, hi, _ = inputs.PLAUSIBLE[attr]
    base = getattr(x, attr)

    def gap(v: float) -> float:
        y = x.replace(**_changes(attr, v))
        return npv_of(winner, y) - npv_of(other, y)

    if attr == "build_months":
        grid = np.arange(int(lo), int(hi) + 1)
    else:
        lo, hi = max(lo, base / 20), min(hi, base * 20)
        grid = np.geomspace(max(lo, 1e-9), hi, 24)
    values = np.array([gap(v) for v in grid])
    flips = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    if flips.size == 0:
        return None
    i = flips[np.argmin(np.abs(np.log((grid[flips] + 1) / (base + 1))))]  # the flip nearest today's value
    if attr == "build_months":
        return float(grid[i + 1])  # the first whole month at which the ranking has swapped
    return finance.root(gap, grid[i], grid[i + 1], xtol=1e-6 * base, rtol=1e-9)


def _money(v: float) -> str:
    a = abs(v)
    s = f"${a / 1e9:.2f}B" if a >= 1e9 else f"${a / 1e6:.1f}M" if a >= 1e6 else f"${a:,.0f}"
    return ("-" if v < 0 else "") + s


def _be_text(attr: str, value: float) -> str:
    name, unit = BREAK_EVENS[attr]
    if attr == "build_months":
        return f"{name} {value:.0f} {unit}"
    if attr == "btc_price_usd":
        return f"{name} ${value:,.0f}"
    return f"{name} ${value:,.2f}" + (f"/{unit.split('/', 1)[1]}" if "/" in unit else "")


def verdict_sentence(results: list[StrategyResult], x: inputs.PlanInputs, bes: dict, vs_mining: dict) -> str:
    first, second = results[0], results[1] if len(results) > 1 else None
    head = (f"{first.label} wins: NPV {_money(first.npv_usd)} over {x.years} years at {x.discount_rate:.0%}/yr")
    if second is None:
        return head + "."
    gap = first.npv_usd - second.npv_usd
    if gap <= 1e-3 * max(abs(first.npv_usd), abs(second.npv_usd), 1.0):
        return head.replace(" wins:", " ties:") + f", level with {second.label} (NPVs within 0.1%)."
    head += f", {_money(gap)} ahead of {second.label} ({_money(second.npv_usd)})"
    near = sorted(((attr, v) for attr, v in bes.items() if v is not None),
                  key=lambda kv: abs(math.log((kv[1] + 1) / (getattr(x, kv[0]) + 1))))[:2]
    if not near:
        return head + "; no single input in its plausible range flips the ranking."
    flips = " or ".join(f"{_be_text(a, v)} (now {_be_text(a, getattr(x, a)).split(' ', 2)[-1]})" for a, v in near)
    text = head + f"; it flips to {second.label} at {flips}."
    against = [f"{_be_text(a, v)}" for a, v in vs_mining.items() if v is not None]
    if against:
        text += f" Against keeping on mining it breaks even at {' or '.join(against)}."
    return text


def build_plan(site, market, asic, gpu, *, refresh_asic=None, years: int | None = None,
               names=None, overrides: dict | None = None, measured: Measurement | None = None,
               basis: str = "published", with_scenarios: bool = True) -> Plan:
    """Every strategy in `names` (default: strategies.DEFAULT_STRATEGIES) on `site` at `market`'s prices,
    ranked by NPV. `overrides` replace PlanInputs fields; `measured` (with basis 'measured') replaces the GPU
    profile's published tokens/s by this run's measurement scaled to `gpu`. ValueError on bad inputs."""
    overrides = dict(overrides or {})
    if years is not None:
        overrides["years"] = years
    if basis == "measured":
        if measured is None:
            raise ValueError("basis 'measured' needs a measurement (a saved run with a verified decode result)")
        if market.token_model_params_b is None:
            raise ValueError(f"market {market.id} has no token_model_params_b (the priced model's size)")
        scaled = scale_to_target(measured, gpu, market.token_model_params_b * 1e9)
        overrides.setdefault("tokens_per_s_per_gpu", scaled.tokens_per_s_per_gpu)
        detail = f"{scaled.tokens_per_s_per_gpu:,.1f} tok/s per GPU, {scaled.basis}"
    elif basis == "published":
        detail = (f"published: {gpu.ref_tokens_per_s:,.0f} tok/s per GPU ({gpu.ref_model})" if gpu.ref_tokens_per_s
                  else f"published: gpu profile {gpu.id} lists no serving throughput")
    else:
        raise ValueError(f"basis must be 'measured' or 'published' (got {basis!r})")
    x = inputs.from_profiles(site, market, asic, gpu, refresh_asic=refresh_asic, **overrides)
    names = list(dict.fromkeys(names or strategies.DEFAULT_STRATEGIES))
    if "tokens" in names and "tokens_per_s_per_gpu" not in overrides and not gpu.ref_tokens_per_s:
        raise ValueError(f"gpu profile {gpu.id} has no ref_tokens_per_s: token sales need it (or --basis measured)")
    evaluated = [strategies.evaluate(n, x) for n in names]
    results = sorted((summarise(s, x) for s in evaluated), key=lambda r: -r.npv_usd)
    for r in results:
        _finite(r)
    bes, vs_mining = {}, {}
    if len(results) > 1:
        for attr in BREAK_EVENS:
            bes[attr] = break_even(x, results[0].name, results[1].name, attr)
    if results[0].name != "mining" and "mining" in names and results[1].name != "mining":
        key = "hosting_usd_per_kw_month" if results[0].name == "hosting" else "gpu_hour_usd"
        for attr in (key, "btc_price_usd"):
            vs_mining[attr] = break_even(x, results[0].name, "mining", attr)
    verdict = verdict_sentence(results, x, bes, vs_mining)
    scen, tornado = scenarios.run(x, names, site, market) if with_scenarios else ({}, [])
    seed = seed_claims.explain(site.plan.claims, x, results) if site.plan.claims else None
    return Plan(site.id, market.id, asic.id, gpu.id, x.years, x.site_mw, x.discount_rate, basis, detail, results,
                [r.name for r in results], verdict,
                {"between": [r.name for r in results[:2]], "values": bes, "vs_mining": vs_mining,
                 "now": {a: getattr(x, a) for a in BREAK_EVENS}},
                scen, tornado, seed, assumptions(x, site, market, asic, gpu, detail), _inputs_dict(x))


def _finite(r: StrategyResult) -> None:
    for key in ("npv_usd", "capex_usd", "peak_funding_usd", "ebitda_year1_usd", "ev_usd"):
        if not math.isfinite(getattr(r, key)):
            raise ValueError(f"{r.name}: {key} is not a finite number; check the inputs' units")
    for row in r.cash_flows:
        if not all(math.isfinite(v) for v in row.values()):
            raise ValueError(f"{r.name}: month {row['month']} has a non-finite cash flow; check the inputs' units")


def _inputs_dict(x: inputs.PlanInputs) -> dict:
    out = {}
    for name in x.__dataclass_fields__:
        v = getattr(x, name)
        if name == "btc_price_monthly":
            out[name] = list(v)
        elif isinstance(v, (bool, int, float, str, dict)) or v is None:
            out[name] = v
    return out


def assumptions(x: inputs.PlanInputs, site, market, asic, gpu, tokens_basis: str) -> list[str]:
    price = ("a monthly CSV path" if x.btc_price_monthly else
             f"${x.btc_price_usd:,.0f}" + (f", {x.btc_drift_per_year:+.0%}/yr" if x.btc_drift_per_year else " flat"))
    return [
        f"site {site.id}: {x.site_mw:g} MW; PUE mining {x.pue_mining:g}, GPUaaS {x.pue_gpuaas:g}, hosting "
        f"{x.pue_hosting:g}; power ${x.power_usd_per_mwh:g}/MWh on facility MWh",
        f"mining: {asic.name} {x.asic_j_per_th:.1f} J/TH (fleet {x.asic_age_years:g} yr old, life "
        f"{x.asic_life_years:g} yr, refresh at {x.refresh_j_per_th:.1f} J/TH and ${x.asic_usd_per_th:g}/TH when it "
        f"pays), BTC {price}, difficulty {x.difficulty / 1e12:.2f} T growing {x.difficulty_growth_monthly:.1%}/month, "
        f"halvings every 210,000 blocks from height {x.block_height:,}, fees {x.fees_btc_per_block:g} BTC/block, "
        f"pool fee {x.pool_fee:.1%}, uptime {x.uptime:.0%} with curtailment paid ${x.curtailment_usd_per_mwh:g}/MWh; "
        "shut down (mothballed: no power, no opex) in any month its cash margin is negative",
        f"GPUaaS: {gpu.name}, {x.gpu_system_w:g} W per GPU, ${x.gpu_price_usd:,.0f} per GPU, "
        f"${x.gpu_hour_usd:g}/GPU-hour falling {x.gpu_hour_decay_per_year:.0%}/yr within a generation, "
        f"{x.gpu_utilization:.0%} sold; GPUs live "
        f"{x.gpu_life_years:g} yr (residual {x.gpu_residual:.0%}), refreshed at today's price and GPU-hour price",
        f"hall: ${x.ai_capex_usd_per_mw_it / 1e6:g}M per MW of IT load, built over {x.build_months} months "
        f"(hosting {x.hosting_build_months}), GPUs paid {x.gpu_lead_months} months before they earn; converted MW "
        + ("stop mining when construction starts" if x.mining_stops_for_build
           else "keep mining until the hall is ready"),
        f"hosting: ${x.hosting_usd_per_kw_month:g}/kW-month of IT load, +{x.lease_escalator:.0%}/yr, "
        f"{x.lease_term_years:g}-yr term renewed at the escalated rate, power "
        f"{'passed through (NNN)' if x.power_pass_through else 'paid by the operator'}, tenant pays "
        f"{x.tenant_fitout_share:.0%} of the hall",
        f"tokens (only with --strategy tokens): {tokens_basis}; ${x.token_price_usd_per_m:g}/M tokens, "
        f"{x.token_utilization:.0%} used",
        "opex per facility MW-year: " + ", ".join(f"{u} ${v:,.0f}" for u, v in x.opex_usd_per_mw_year.items())
        + (" + share of revenue " + ", ".join(f"{u} {v:.0%}" for u, v in x.opex_share_of_revenue.items())
           if x.opex_share_of_revenue else ""),
        f"depreciation straight-line (ASICs {x.asic_life_years:g} yr, GPUs {x.gpu_life_years:g} yr, facility "
        f"{x.facility_life_years:g} yr); every asset still held at the horizon counts at its book value "
        "(negative capex in the last month); ASICs on converted MW are retired at no value",
        f"tax {x.tax_rate:.0%} on EBITDA - depreciation - interest, losses carried forward; financing: "
        + (f"{x.debt_share:.0%} of each capex draw" + (f" up to {_money(x.debt_cap_usd)}" if x.debt_cap_usd else "")
           + f" at {x.debt_rate:.0%}/yr over {x.debt_term_years:g} yr" if x.debt_share else "none (all equity)"),
        f"NPV of net_usd (equity cash flow) at {x.discount_rate:.0%}/yr, months paid at their end; "
        + (f"EV = last year's EBITDA x {x.ev_ebitda_mining:g} (mining) or x {x.ev_ebitda_ai:g} (AI: the data-centre "
           f"operators' multiple; a GPU cloud, whose machines last {x.gpu_life_years:g} years, may be priced lower), "
           f"market {market.id}" if x.ev_ebitda_ai or x.ev_ebitda_mining
           else f"no EV: market {market.id} gives no valuation multiples"),
    ]
