"""Ranges -> a tornado (NPV of each strategy with one input at its low or high end) and low/base/high
scenarios (per strategy, every input at the end that lowers / raises that strategy's NPV).

The ranges come from the profiles: the market's `ranges`, the site's `pue_range`, the plan's capex range and
the market's hosting low/high; an input without a range is not moved.
"""

from __future__ import annotations

from bench.economics import finance, strategies
from bench.economics.inputs import PlanInputs


def ranges(x: PlanInputs, site, market) -> dict[str, tuple[str, dict, dict]]:
    """input name -> (label, changes at the low end, changes at the high end)."""
    out = {}
    r = market.ranges
    if r is not None:
        if r.btc_price_usd:
            out["btc_price_usd"] = ("BTC price (USD)", {"btc_price_usd": r.btc_price_usd[0]},
                                    {"btc_price_usd": r.btc_price_usd[1]})
        if r.gpu_hour_factor:
            out["gpu_hour_usd"] = ("GPU-hour price (USD)", {"gpu_hour_usd": x.gpu_hour_usd * r.gpu_hour_factor[0]},
                                   {"gpu_hour_usd": x.gpu_hour_usd * r.gpu_hour_factor[1]})
        if r.difficulty_growth_monthly:
            lo, hi = r.difficulty_growth_monthly
            out["difficulty_growth_monthly"] = ("difficulty growth (per month)", {"difficulty_growth_monthly": lo},
                                                {"difficulty_growth_monthly": hi})
        if r.gpu_hour_decay_per_year:
            lo, hi = r.gpu_hour_decay_per_year
            out["gpu_hour_decay_per_year"] = ("GPU-hour price decay (per year)", {"gpu_hour_decay_per_year": lo},
                                              {"gpu_hour_decay_per_year": hi})
        if r.build_months:
            lo, hi = (int(round(v)) for v in r.build_months)
            out["build_months"] = ("build time (months)",
                                   {"build_months": lo, "hosting_build_months": lo, "tokens_build_months": lo},
                                   {"build_months": hi, "hosting_build_months": hi, "tokens_build_months": hi})
        if r.power_price_usd_per_mwh:
            lo, hi = r.power_price_usd_per_mwh
            out["power_usd_per_mwh"] = ("power price (USD/MWh)", {"power_usd_per_mwh": lo}, {"power_usd_per_mwh": hi})
    if site.pue_range:
        lo, hi = site.pue_range
        out["pue_ai"] = ("PUE of the AI hall", {"pue_gpuaas": lo, "pue_hosting": lo, "pue_tokens": lo},
                         {"pue_gpuaas": hi, "pue_hosting": hi, "pue_tokens": hi})
    if site.plan and site.plan.capex_range_usd_per_mw_it:
        lo, hi = site.plan.capex_range_usd_per_mw_it
        out["ai_capex_usd_per_mw_it"] = ("hall capex (USD per MW IT)", {"ai_capex_usd_per_mw_it": lo},
                                         {"ai_capex_usd_per_mw_it": hi})
    h = market.hosting_usd_per_kw_month
    out["hosting_usd_per_kw_month"] = ("lease rate (USD/kW-month)", {"hosting_usd_per_kw_month": h.low},
                                       {"hosting_usd_per_kw_month": h.high})
    return out


def _npv(name: str, x: PlanInputs) -> float:
    cash = strategies.evaluate(name, x).cash
    return finance.npv(cash.net, cash.months, x.discount_rate)


def run(x: PlanInputs, names: list[str], site, market) -> tuple[dict, list[dict]]:
    """({strategy: {low, base, high}}, tornado rows sorted by the swing of the base winner's NPV)."""
    base = {n: _npv(n, x) for n in names}
    winner = max(base, key=base.get)
    rows = []
    for key, (label, low, high) in ranges(x, site, market).items():
        at_low = {n: _npv(n, x.replace(**low)) for n in names}
        at_high = {n: _npv(n, x.replace(**high)) for n in names}
        rows.append({"input": key, "label": label, "low": low, "high": high, "npv_low_usd": at_low,
                     "npv_high_usd": at_high, "swing_usd": abs(at_high[winner] - at_low[winner])})
    rows.sort(key=lambda r: -r["swing_usd"])
    out = {}
    for n in names:
        worst, best = {}, {}
        for r in rows:
            low_hurts = r["npv_low_usd"][n] <= r["npv_high_usd"][n]
            lo_end, hi_end = (r["low"], r["high"]) if low_hurts else (r["high"], r["low"])
            worst.update(lo_end)
            best.update(hi_end)
        out[n] = {"low_usd": _npv(n, x.replace(**worst)) if rows else base[n], "base_usd": base[n],
                  "high_usd": _npv(n, x.replace(**best)) if rows else base[n]}
    return out, rows
