"""What a site can do with its megawatts over the horizon, as monthly operating lines (`Ops`) per strategy.

Blocks, per facility MW: mining (the fleet it has, refreshed at the end of its life when the new fleet pays
for itself, shut down in any month its cash margin is negative), GPUaaS and token sales (a hall built over
`build_months`, GPUs paid `gpu_lead_months` before they earn, refreshed every GPU life at today's prices, the
GPU-hour price falling by `gpu_hour_decay_per_year` within a generation) and hosting (the hall, then a lease
with a yearly escalator, renewed at the escalated rate after its term). Strategies place blocks on the site:
a MW mines until its conversion starts (or until its hall is ready, when the site can keep the power on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.economics import finance
from bench.economics.bitcoin import HOURS_PER_MONTH, btc_per_ph_month, btc_price_path
from bench.economics.cashflow import CashFlows, Ops, settle
from bench.economics.inputs import PlanInputs

STRATEGIES = {
    "mining": "keep mining (fleet refreshed)",
    "gpuaas": "convert all to GPUaaS",
    "hosting": "convert all to hosting (lease)",
    "phased": "phased conversion to GPUaaS",
    "split": "split: part mining, part GPUaaS",
    "tokens": "convert all to token sales",
}
DEFAULT_STRATEGIES = ("mining", "gpuaas", "hosting", "phased", "split")


@dataclass
class Strategy:
    name: str
    label: str
    ops: Ops
    cash: CashFlows
    notes: list[str] = field(default_factory=list)


# --- blocks, per facility MW --------------------------------------------------------------------


def mining_block(x: PlanInputs) -> tuple[Ops, list[tuple[int, str]], np.ndarray]:
    """One facility MW mining every month of the horizon: its lines, its events (month index, text) and the
    months it is shut down."""
    months = x.months
    n = months.size
    it_w = 1e6 / x.pue_mining
    ph_old, ph_new = it_w / x.asic_j_per_th / 1e3, it_w / x.refresh_j_per_th / 1e3
    usd_per_ph = x.asic_usd_per_th * 1e3
    btc = btc_per_ph_month(months, block_height=x.block_height, difficulty=x.difficulty,
                           growth_monthly=x.difficulty_growth_monthly, fees_btc_per_block=x.fees_btc_per_block)
    price = btc_price_path(x.btc_price_usd, months, drift_per_year=x.btc_drift_per_year,
                           monthly=np.asarray(x.btc_price_monthly) if x.btc_price_monthly else None)
    usd_per_ph_month = btc * price * x.uptime * (1 - x.pool_fee)
    power_on = HOURS_PER_MONTH * x.uptime * x.power_usd_per_mwh
    share = x.opex_share_of_revenue.get("mining", 0.0)
    life = max(1, int(round(x.asic_life_years * 12)))

    fixed = x.opex_usd_per_mw_year["mining"] / 12
    disc = finance.discount_factors(months, x.discount_rate)

    def running_value(fleet_ph: float, a: int, b: int) -> float:
        """Discounted cash margin of a fleet over months a..b-1, mothballed when the margin is negative."""
        margin = usd_per_ph_month[a:b] * fleet_ph * (1 - share) - power_on - fixed
        return float(np.dot(np.maximum(margin, 0.0), disc[a:b]))

    ph = np.full(n, ph_old)
    capex, disposals = np.zeros(n), np.zeros(n)
    notes = []
    cost_now = ph_old * usd_per_ph  # what the fleet in use cost (at today's $/TH)
    i = max(0, int(round((x.asic_life_years - x.asic_age_years) * 12)))  # index of the first refresh month
    while i < n:
        new_cost = ph_new * usd_per_ph
        # refresh when the new fleet's discounted margin over its life (to the horizon, then its book value)
        # beats keeping the old one, net of the purchase and of selling the old fleet now instead of later
        j = min(n, i + life)
        new_left = new_cost * max(x.asic_residual, 1 - (1 - x.asic_residual) * (j - i) / life)
        gain = (running_value(ph_new, i, j) + new_left * disc[j - 1] - new_cost * disc[i]
                + cost_now * x.asic_residual * (disc[i] - disc[j - 1]) - running_value(ph[i], i, j))
        if gain > 0:
            ph[i:], capex[i] = ph_new, new_cost
            disposals[i] += cost_now * x.asic_residual
            notes.append((i, f"fleet refreshed in month {i + 1} ({x.refresh_j_per_th:.1f} J/TH, "
                              f"${new_cost:,.0f} per MW)"))
            cost_now = new_cost
        else:
            notes.append((i, f"no refresh in month {i + 1}: a new fleet would not pay for itself over its "
                              "life (difficulty growth and halvings counted)"))
        i += life
    revenue = usd_per_ph_month * ph
    power = np.full(n, power_on)
    curtailed = np.full(n, HOURS_PER_MONTH * (1 - x.uptime) * x.curtailment_usd_per_mwh)
    off = revenue * (1 - share) - power - fixed < 0  # economic shut-down: no power drawn, nothing mined
    revenue, power, curtailed = np.where(off, 0, revenue), np.where(off, 0, power), np.where(off, 0, curtailed)
    revenue = revenue + curtailed
    # staff and upkeep are paid in the months the fleet runs: a site shut down by its margin is mothballed
    opex = np.where(off, 0.0, fixed) + share * revenue
    # depreciation: the fleet in place over what is left of its life, then each refresh over its life
    age = int(round(x.asic_age_years * 12))
    opening = ph_old * usd_per_ph
    left = max(0, life - age)
    dep = np.zeros(n)
    dep[:left] = opening * (1 - x.asic_residual) / life
    dep += finance.straight_line(capex, life, x.asic_residual)
    spends = capex.copy()
    if not capex.any():  # the original fleet is still in use at the end
        end_value = opening * max(x.asic_residual, 1 - (1 - x.asic_residual) * min((age + n) / life, 1.0))
    else:
        last = np.nonzero(capex)[0][-1]
        spends[:last] = 0.0
        end_value = finance.book_value_at_end(spends, life, x.asic_residual)
    disposals[-1] += end_value
    return Ops(revenue, power, opex, capex, disposals, dep, np.zeros(n)), notes, off


def _gpu_block(x: PlanInputs, start: int, use: str) -> Ops:
    """One facility MW of GPUs (GPUaaS or token sales) whose hall construction starts in month `start`."""
    n = x.months.size
    ops = Ops.zeros(n)
    build = x.build_months if use == "gpuaas" else x.tokens_build_months
    pue = x.pue_gpuaas if use == "gpuaas" else x.pue_tokens
    it_mw = 1.0 / pue
    gpus = it_mw * 1e6 / x.gpu_system_w
    s, g = start - 1, start - 1 + build  # indices: construction from s, first revenue at g
    if s >= n:
        return ops
    hall = x.ai_capex_usd_per_mw_it * it_mw
    months_building = max(1, build)
    ops.capex[s:min(n, s + months_building)] += hall / months_building
    facility_life = int(round(x.facility_life_years * 12))
    life = max(1, int(round(x.gpu_life_years * 12)))
    gpu_cost = gpus * x.gpu_price_usd
    gpu_spend = np.zeros(n)
    pay = max(s, g - x.gpu_lead_months)
    if pay < n:
        gpu_spend[pay] = gpu_cost
    k = g + life
    while k < n:  # refresh: a new generation at today's price; the old one sold at its residual
        gpu_spend[k] += gpu_cost
        ops.disposals[k] += gpu_cost * x.gpu_residual
        k += life
    ops.capex += gpu_spend
    if g < n:
        m = np.arange(g, n)
        age_years = ((m - g) % life) / 12.0
        decay = (1 - x.gpu_hour_decay_per_year) ** age_years
        if use == "gpuaas":
            ops.revenue[g:] = gpus * HOURS_PER_MONTH * x.gpu_utilization * x.gpu_hour_usd * decay
        else:
            ops.revenue[g:] = (gpus * x.tokens_per_s_per_gpu * 3600 * HOURS_PER_MONTH * x.token_utilization
                               * x.token_price_usd_per_m / 1e6 * decay)
        ops.power[g:] = HOURS_PER_MONTH * x.power_usd_per_mwh
        ops.opex[g:] = x.opex_usd_per_mw_year[use] / 12 + x.opex_share_of_revenue.get(use, 0.0) * ops.revenue[g:]
    hall_spend = ops.capex - gpu_spend
    ops.depreciation = (finance.straight_line(hall_spend, facility_life, x.facility_residual)
                        + finance.straight_line(gpu_spend, life, x.gpu_residual))
    last_gen = gpu_spend.copy()
    paid = np.nonzero(gpu_spend)[0]
    if paid.size:
        last_gen[: paid[-1]] = 0.0
    ops.disposals[-1] += (finance.book_value_at_end(hall_spend, facility_life, x.facility_residual)
                          + finance.book_value_at_end(last_gen, life, x.gpu_residual))
    ops.ai_ebitda = ops.ebitda.copy()
    return ops


def hosting_block(x: PlanInputs, start: int) -> Ops:
    """One facility MW leased to an AI tenant; hall construction starts in month `start`."""
    n = x.months.size
    ops = Ops.zeros(n)
    it_kw = 1e3 / x.pue_hosting
    s, g = start - 1, start - 1 + x.hosting_build_months
    if s >= n:
        return ops
    hall = x.ai_capex_usd_per_mw_it * it_kw / 1e3 * (1 - x.tenant_fitout_share)
    months_building = max(1, x.hosting_build_months)
    ops.capex[s:min(n, s + months_building)] += hall / months_building
    if g < n:
        years_in = (np.arange(g, n) - g) // 12
        ops.revenue[g:] = x.hosting_usd_per_kw_month * it_kw * (1 + x.lease_escalator) ** years_in
        ops.power[g:] = 0.0 if x.power_pass_through else HOURS_PER_MONTH * x.power_usd_per_mwh
        share = x.opex_share_of_revenue.get("hosting", 0.0)
        ops.opex[g:] = x.opex_usd_per_mw_year["hosting"] / 12 + share * ops.revenue[g:]
    life = int(round(x.facility_life_years * 12))
    ops.depreciation = finance.straight_line(ops.capex, life, x.facility_residual)
    ops.disposals[-1] += finance.book_value_at_end(ops.capex, life, x.facility_residual)
    ops.ai_ebitda = ops.ebitda.copy()
    return ops


# --- strategies on the whole site ---------------------------------------------------------------


def _conversion(x: PlanInputs, blocks: list[tuple[float, int]], use: str) -> tuple[Ops, list[str]]:
    """The site with `blocks` of (MW, construction start month) converted to `use`; the rest mines."""
    n = x.months.size
    mine, events, off = mining_block(x)
    build = {"gpuaas": x.build_months, "hosting": x.hosting_build_months, "tokens": x.tokens_build_months}[use]
    mining_mw = np.full(n, x.site_mw)
    total = Ops.zeros(n)
    for mw, start in blocks:
        stops = start - 1 if x.mining_stops_for_build else start - 1 + build
        mining_mw[min(n, stops):] -= mw
        block = hosting_block(x, start) if use == "hosting" else _gpu_block(x, start, use)
        total = total + block.scaled(mw)
    mining_mw = np.clip(mining_mw, 0.0, None)
    mined = mine.scaled(mining_mw)  # the ASICs of converted MW are retired at no value
    on = mining_mw > 0
    notes = [text for i, text in events if on[i]]
    if (off & on).any():
        notes.append(f"mining shut down in {int((off & on).sum())} of the {int(on.sum())} months it could run "
                     "(cash margin below zero: no power drawn, nothing mined)")
    return total + mined, notes


def blocks_for(name: str, x: PlanInputs) -> tuple[list[tuple[float, int]], str]:
    """Where and when each strategy converts: (MW, start month) blocks and the use they convert to."""
    if name == "mining":
        return [], "gpuaas"
    if name in ("gpuaas", "tokens", "hosting"):
        return [(x.site_mw, 1)], name
    if name == "split":
        return [(x.site_mw * (1 - x.split_mining_share), 1)], "gpuaas"
    if name == "phased":
        steps = math.ceil(x.site_mw / x.phased_mw_per_year - 1e-9)
        step = x.phased_mw_per_year
        return [(min(step, x.site_mw - k * step), 1 + 12 * k) for k in range(steps)], "gpuaas"
    raise ValueError(f"unknown strategy {name!r}; strategies: {', '.join(STRATEGIES)}")


def evaluate(name: str, x: PlanInputs) -> Strategy:
    """One strategy on the whole site: its operating lines and its cash flows after financing and tax."""
    blocks, use = blocks_for(name, x)
    ops, notes = _conversion(x, blocks, use)
    if name == "phased":
        notes.append(", ".join(f"{mw:g} MW from month {m}" for mw, m in blocks))
    if name == "split":
        notes.append(f"{x.split_mining_share:.0%} of the site keeps mining")
    return Strategy(name, STRATEGIES[name], ops, settle(ops, x), notes)
