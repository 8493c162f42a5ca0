"""A company's published figures about a site, next to what the model computes from stated assumptions.

- cost to mine one BTC (cash: power; all-in: power + opex + ASIC depreciation) against the reported figure,
  and the fleet efficiency that would reproduce it;
- an "N x revenue potential" as ratios of AI to mining revenue, EBITDA and NPV, each with what gives it;
- "hosting contracts worth up to $X per MW" read three ways: total contract value over the lease term (the
  rent it implies), years of rent at the market rate, and EV per MW (EBITDA x multiple);
- the financing against each strategy's capex and peak funding.
"""

from __future__ import annotations

import numpy as np

from bench.economics import finance
from bench.economics.bitcoin import HOURS_PER_MONTH, btc_per_ph_month
from bench.economics.inputs import PlanInputs


def cost_per_btc(x: PlanInputs, j_per_th: float | None = None) -> dict:
    """Year 1 of the site's fleet as it is: BTC mined, cash and all-in cost per BTC (per facility MW)."""
    jth = j_per_th or x.asic_j_per_th
    months = np.arange(1, 13)
    ph = 1e6 / x.pue_mining / jth / 1e3
    btc = float((btc_per_ph_month(months, block_height=x.block_height, difficulty=x.difficulty,
                                  growth_monthly=x.difficulty_growth_monthly, fees_btc_per_block=x.fees_btc_per_block)
                 * ph * x.uptime * (1 - x.pool_fee)).sum())
    power = HOURS_PER_MONTH * 12 * x.uptime * x.power_usd_per_mwh
    opex = x.opex_usd_per_mw_year["mining"]
    depreciation = ph * 1e3 * x.asic_usd_per_th * (1 - x.asic_residual) / x.asic_life_years
    return {"btc_per_mw_year": btc, "cash_usd": power / btc, "all_in_usd": (power + opex + depreciation) / btc,
            "power_usd": power, "opex_usd": opex, "depreciation_usd": depreciation, "j_per_th": jth}


def _implied_j_per_th(x: PlanInputs, target: float) -> float | None:
    f = lambda j: cost_per_btc(x, j)["all_in_usd"] - target  # noqa: E731
    try:
        return finance.root(f, 3.0, 200.0) if f(3.0) < 0 < f(200.0) else None
    except ValueError:
        return None


def explain(claims, x: PlanInputs, results: list) -> dict:
    """The seed case's figures, each next to the model's and the assumptions that connect them."""
    by = {r.name: r for r in results}
    out: dict = {"company": claims.company, "notes": []}
    if claims.cost_per_btc_usd:
        c = cost_per_btc(x)
        implied = _implied_j_per_th(x, claims.cost_per_btc_usd)
        out["cost_per_btc"] = {"reported_usd": claims.cost_per_btc_usd, "model_cash_usd": c["cash_usd"],
                               "model_all_in_usd": c["all_in_usd"],
                               "ratio_all_in_to_reported": c["all_in_usd"] / claims.cost_per_btc_usd,
                               "j_per_th_that_reproduces_reported": implied, "model": c}
        out["notes"].append(
            f"cost per BTC: model ${c['cash_usd']:,.0f} cash (power) and ${c['all_in_usd']:,.0f} all-in (power + opex "
            f"+ ASIC depreciation) at {x.asic_j_per_th:.1f} J/TH, ${x.power_usd_per_mwh:g}/MWh, PUE {x.pue_mining:g}, "
            f"this snapshot's difficulty, vs ${claims.cost_per_btc_usd:,.0f} reported; "
            + (f"the reported figure matches a fleet at {implied:.1f} J/TH with these prices" if implied else
               "no fleet efficiency reproduces it with these prices")
            + " (a company's all-in figure also carries G&A, other sites' power and its own depreciation schedule)")
    mining = by.get("mining")
    ai = by.get("gpuaas")
    if claims.revenue_potential_x and mining and ai:
        full = next((y for y in ai.yearly if y["year"] >= 2), ai.yearly[-1])
        m_full = mining.yearly[full["year"] - 1]
        rev = full["revenue_usd"] / m_full["revenue_usd"] if m_full["revenue_usd"] > 0 else None
        ebitda = full["ebitda_usd"] / m_full["ebitda_usd"] if m_full["ebitda_usd"] > 0 else None
        npv = ai.npv_usd / mining.npv_usd if mining.npv_usd > 0 else None
        hours = HOURS_PER_MONTH * 12
        ai_today = 1e6 / x.pue_gpuaas / x.gpu_system_w * hours * x.gpu_utilization * x.gpu_hour_usd
        mine_today = (btc_per_ph_month([1], block_height=x.block_height, difficulty=x.difficulty, growth_monthly=0.0,
                                       fees_btc_per_block=x.fees_btc_per_block)[0] * 12
                      * 1e6 / x.pue_mining / x.asic_j_per_th / 1e3 * x.uptime * (1 - x.pool_fee) * x.btc_price_usd)
        today = ai_today / mine_today
        ratios = [(a["year"], a["revenue_usd"] / m["revenue_usd"]) for a, m in zip(ai.yearly, mining.yearly)
                  if m["revenue_usd"] > 0 and a["year"] >= full["year"]]
        reached = next((y for y, r in ratios if r >= claims.revenue_potential_x), None)
        out["revenue_potential"] = {"reported_x": claims.revenue_potential_x, "year": full["year"],
                                    "revenue_ratio_today": today, "revenue_ratio": rev, "ebitda_ratio": ebitda,
                                    "npv_ratio": npv,
                                    "first_year_revenue_ratio_reaches_reported": reached}
        fmt = lambda v: f"{v:.1f}x" if v is not None else "n/a (mining's figure is <= 0)"  # noqa: E731
        out["notes"].append(
            f"'{claims.revenue_potential_x:g}x revenue potential': at today's prices one facility MW of GPUaaS "
            f"(${ai_today / 1e6:.1f}M/yr) earns {today:.1f}x its mining revenue (${mine_today / 1e6:.2f}M/yr at "
            f"{x.asic_j_per_th:.1f} J/TH, today's difficulty); in year {full['year']} GPUaaS / mining is {fmt(rev)} "
            f"in revenue, {fmt(ebitda)} in EBITDA; over {x.years} years the NPV ratio is {fmt(npv)} (GPUaaS at "
            f"${x.gpu_hour_usd:g}/GPU-hour and {x.gpu_utilization:.0%} sold, mining as above); the revenue ratio "
            + (f"first reaches {claims.revenue_potential_x:g}x in year {reached}" if reached else
               f"never reaches {claims.revenue_potential_x:g}x in years mining still earns")
            + " — a revenue ratio ignores the GPUs' capex, which the NPV ratio counts")
    if claims.hosting_contract_usd_per_mw:
        v, term = claims.hosting_contract_usd_per_mw, x.lease_term_years
        growth = sum((1 + x.lease_escalator) ** y for y in range(int(round(x.lease_term_years))))
        rent_implied = v / (1e3 * 12 * growth)  # $/kW-month of IT load, if v is the whole term's rent per IT MW
        rent_year = x.hosting_usd_per_kw_month * 1e3 * 12
        ebitda_mw = rent_year - x.opex_usd_per_mw_year["hosting"] * x.pue_hosting  # per IT MW
        out["hosting_contract"] = {
            "reported_usd_per_mw": v,
            "as_total_contract_value": {"term_years": x.lease_term_years, "implied_usd_per_kw_month": rent_implied},
            "years_of_rent_at_market_rate": v / rent_year,
            "market_contract_value_usd_per_mw": rent_year * growth,
            "as_enterprise_value": {"ebitda_usd_per_mw_year": ebitda_mw, "implied_ev_ebitda": v / ebitda_mw,
                                    "ev_at_ai_multiple_usd_per_mw": ebitda_mw * x.ev_ebitda_ai,
                                    "ev_at_mining_multiple_usd_per_mw": ebitda_mw * x.ev_ebitda_mining}}
        out["notes"].append(
            f"'hosting contracts worth up to ${v / 1e6:g}M per MW': as the whole {term:g}-year rent of one IT MW it "
            f"implies ${rent_implied:,.0f}/kW-month (market ${x.hosting_usd_per_kw_month:g}, whose {term:g}-yr "
            f"contract is worth ${rent_year * growth / 1e6:.1f}M per MW); it is {v / rent_year:.1f} years of rent at "
            f"the market rate; as enterprise value it is {v / ebitda_mw:.1f}x the lease's EBITDA of "
            f"${ebitda_mw / 1e6:.2f}M per MW-year (data-centre multiples of {x.ev_ebitda_ai:g}x give "
            f"${ebitda_mw * x.ev_ebitda_ai / 1e6:.0f}M per MW, miners' {x.ev_ebitda_mining:g}x "
            f"${ebitda_mw * x.ev_ebitda_mining / 1e6:.1f}M)")
    if claims.financing_usd:
        out["financing"] = {"reported_usd": claims.financing_usd,
                            "share_of_capex": {r.name: (claims.financing_usd / r.capex_usd if r.capex_usd else None)
                                               for r in results},
                            "share_of_peak_funding": {r.name: (claims.financing_usd / r.peak_funding_usd
                                                               if r.peak_funding_usd else None) for r in results}}
        parts = [f"{r.name} capex ${r.capex_usd / 1e6:,.0f}M ({claims.financing_usd / r.capex_usd:.0%} covered)"
                 for r in results if r.capex_usd > 0]
        out["notes"].append(f"${claims.financing_usd / 1e6:g}M financing against " + "; ".join(parts)
                            + " — it pays for the hall (hosting), not for the GPUs of GPUaaS")
    if claims.finished:
        out["finished"] = claims.finished.isoformat()
    return out
