"""The verdict box: the answer to "keep mining or convert?", per facility MW and for the whole site.

From the run file's `plan` (the decision model's output, DESIGN.md): the ranked strategies with NPV, IRR,
payback, capex and year-1 EBITDA, its one-sentence verdict, the inputs that flip it, and which figures were
measured on this machine. A run file without `plan` gets the site view instead (the best row per use from
`economics`), labelled as such: a per-MW comparison, not a decision. Every key is read defensively: a
missing figure is shown as "—", never an error.
"""

from __future__ import annotations

import math

from bench.console import usd
from bench.report.model import Table, Verdict
from bench.report.site import USE_NAMES

# friendly names of the inputs a plan's `flips` name
INPUT_NAMES = {"gpu_hour_usd": "GPU-hour price", "btc_price_usd": "BTC price", "power_usd_per_mwh": "power price",
               "build_months": "build time", "power_price_usd_per_mwh":
               "power price", "difficulty": "network difficulty", "hosting_usd_per_kw_month": "hosting price",
               "pue": "PUE", "discount_rate": "discount rate", "gpu_capex_usd_per_mw": "GPU capex per MW"}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        else None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def percent(value) -> str:
    v = _number(value)
    return "—" if v is None else f"{v:.1%}"


def payback_text(month) -> str:
    """Month index -> '3.7 yr'; None (never pays back) -> 'never'."""
    m = _number(month)
    if month is None:
        return "never"
    return "—" if m is None else f"{m / 12:.1f} yr"


def amount(value, unit: str = "") -> str:
    """A flip's figure in its unit: USD amounts as $, others as plain numbers with the unit."""
    v = _number(value)
    if v is None:
        return "—"
    if unit.upper().startswith("USD"):
        rest = unit[3:].strip()
        text = usd(v) if abs(v) >= 1000 else f"${v:,.2f}"
        return f"{text} {rest}".strip()
    return f"{v:,.4g} {unit}".strip()


def site_figure(strategy: dict, key: str):
    """A whole-site figure: the strategy's `site` object, else its top-level key (the contract's)."""
    return _dict(strategy.get("site")).get(key, strategy.get(key))


def per_mw_figure(strategy: dict, key: str, site_mw: float | None = None):
    """A per-MW figure: the strategy's `per_mw` object, else its whole-site figure over the site's MW."""
    found = _dict(strategy.get("per_mw")).get(key)
    if found is None and site_mw:
        whole = _number(site_figure(strategy, key))
        found = whole / site_mw if whole is not None else None
    return found


def strategies_table(plan: dict) -> Table:
    rate = _number(plan.get("discount_rate"))
    site = _dict(plan.get("site"))
    mw = _number(site.get("facility_mw")) or _number(plan.get("site_mw"))
    horizon = _number(plan.get("horizon_months")) or ((_number(plan.get("years")) or 0) * 12 or None)
    title = "Strategies ranked by NPV" + (f" at {rate:.0%} a year" if rate is not None else "") + (
        f" over {horizon / 12:g} years" if horizon else "")
    table = Table(title, ["#", "strategy", "NPV\n/MW", "NPV\nsite", "IRR", "payback", "capex\n/MW", "capex\nsite",
                          "EBITDA yr1\n/MW", "EBITDA yr1\nsite", "peak\nfunding"])
    strategies = [s for s in plan.get("strategies") or [] if isinstance(s, dict)]
    ranking = [n for n in plan.get("ranking") or [] if isinstance(n, str)]
    order = {name: i for i, name in enumerate(ranking)}
    strategies.sort(key=lambda s: (order.get(s.get("name"), len(order)), -(_number(site_figure(s, "npv_usd")) or 0)))
    for i, s in enumerate(strategies, 1):
        table.add([str(i), s.get("name", "?"), usd(_number(per_mw_figure(s, "npv_usd", mw))),
                   usd(_number(site_figure(s, "npv_usd"))), percent(s.get("irr")), payback_text(s.get("payback_month")),
                   usd(_number(per_mw_figure(s, "capex_usd", mw))), usd(_number(site_figure(s, "capex_usd"))),
                   usd(_number(per_mw_figure(s, "ebitda_year1_usd", mw))),
                   usd(_number(site_figure(s, "ebitda_year1_usd"))),
                   usd(_number(site_figure(s, "peak_funding_usd")))], "best" if i == 1 else "")
    table.notes.append("/MW: per MW of facility power; site: the whole site"
                       + (f" ({mw:g} MW)" if mw else "")
                       + "; IRR of the project's cash flows; payback: the month cumulative net cash turns positive")
    return table


BREAK_EVEN_UNITS = {"gpu_hour_usd": "USD/GPU-hour", "btc_price_usd": "USD", "hosting_usd_per_kw_month":
                    "USD/kW-month", "build_months": "months", "power_usd_per_mwh": "USD/MWh"}


def _flips_from_break_evens(plan: dict) -> list[dict]:
    """bench plan's `break_evens` (the value of each input at which the winner and the runner-up tie, and
    today's value) as flips."""
    be = _dict(plan.get("break_evens"))
    values, now = _dict(be.get("values")), _dict(be.get("now"))
    return [{"input": k, "break_even": v, "today": now.get(k), "unit": BREAK_EVEN_UNITS.get(k, "")}
            for k, v in values.items() if _number(v) is not None]


def flips(plan: dict) -> list[str]:
    out = []
    for f in plan.get("flips") or _flips_from_break_evens(plan):
        if not isinstance(f, dict):
            continue
        name = INPUT_NAMES.get(f.get("input"), str(f.get("input", "?")).replace("_", " "))
        unit = str(f.get("unit") or "")
        out.append(f"{name}: flips at {amount(f.get('break_even'), unit)} (today {amount(f.get('today'), unit)})")
    return out[:3]


def provenance(doc: dict, basis: str | None) -> list[str]:
    """Which figures came from this machine, how they entered the money, and which came from profiles."""
    results = [r for r in doc.get("results") or [] if isinstance(r, dict)]
    verified = sum(1 for r in results if r.get("verified"))
    economics = _dict(doc.get("economics"))
    market = _dict(economics.get("market"))
    scaled = economics.get("gemm_scaling") or []
    lines = []
    if basis == "measured":
        lines.append(f"Measured on this machine: {verified} verified result(s); the decision model used them "
                     "(its basis is 'measured').")
    else:
        lines.append(f"Measured on this machine: {verified} verified result(s), reported in the engineer's summary; "
                     + ("the GEMM fraction of peak measured here is applied to each GPU profile's peak (see 'GEMM "
                        "scaled to GPU profiles'), but " if scaled else "")
                     + "no measured figure changes the money above.")
    when = market.get("date") or "undated"
    snapshot = str(market.get("id", "?")) + ("" if market.get("id") == when else f" ({when})")
    lines.append("Taken from profiles: ASIC nameplate J/TH and prices, GPU system power and serving figures, site "
                 f"power and PUE, market {snapshot} prices"
                 + ("; so the money is the same on any machine that runs this suite." if basis != "measured" else "."))
    return lines


def from_plan(doc: dict, plan: dict) -> Verdict:
    basis = plan.get("basis") if isinstance(plan.get("basis"), str) else None
    sentence = plan.get("verdict") if isinstance(plan.get("verdict"), str) and plan.get("verdict") else (
        f"Best by NPV: {(plan.get('ranking') or ['—'])[0]}.")
    return Verdict("Verdict: keep mining or convert?", sentence, [strategies_table(plan)], flips(plan),
                   provenance(doc, basis))


def _best_per_use(economics: dict) -> list[dict]:
    best: dict[str, dict] = {}
    for row in economics.get("uses") or []:
        if not isinstance(row, dict):
            continue
        margin = _number(row.get("margin_usd_per_mw_year"))
        held = best.get(row.get("use"))
        if held is None or (margin is not None and margin > (_number(held.get("margin_usd_per_mw_year")) or -math.inf)):
            best[row.get("use")] = row
    return sorted(best.values(), key=lambda r: -(_number(r.get("margin_usd_per_mw_year")) or -math.inf))


def uses_table(economics: dict) -> Table:
    mw = _number(_dict(economics.get("site")).get("facility_mw"))
    table = Table("Best profile per use, per MW of facility power per year (and for the whole site)",
                  ["use", "profile", "revenue\n/MW", "margin\n/MW", "margin\nsite", "capex\n/MW", "payback",
                   "NPV\n/MW"])
    for i, row in enumerate(_best_per_use(economics)):
        margin = _number(row.get("margin_usd_per_mw_year"))
        payback = _number(row.get("payback_years"))
        table.add([USE_NAMES.get(row.get("use"), str(row.get("use"))), row.get("name") or row.get("profile") or "",
                   usd(_number(row.get("revenue_usd_per_mw_year"))), usd(margin),
                   usd(margin * mw) if margin is not None and mw else "—",
                   usd(_number(row.get("capex_usd_per_mw"))), f"{payback:.1f} yr" if payback is not None else "—",
                   usd(_number(row.get("npv_usd_per_mw")))],
                  "bad" if margin is not None and margin < 0 else "best" if i == 0 else "")
    table.notes.append("revenue and margin per year before capex; site = per MW x the site's "
                       + (f"{mw:g} MW" if mw else "MW (unknown)") + "; every use's rows are under 'Site view' below")
    return table


def from_site_view(doc: dict, economics: dict) -> Verdict:
    rows = _best_per_use(economics)
    mining = next((r for r in rows if r.get("use") == "mining"), None)
    top = rows[0] if rows else None
    sentence = "No site view in this run (see the warnings)."
    if top is not None:
        sentence = (f"Highest margin per MW: {USE_NAMES.get(top.get('use'), top.get('use'))} on "
                    f"{top.get('name') or top.get('profile') or '?'}, {usd(_number(top.get('margin_usd_per_mw_year')))} "
                    "per MW-year")
        if mining is not None and mining is not top:
            sentence += (f", against {usd(_number(mining.get('margin_usd_per_mw_year')))} for the best miner "
                         f"({mining.get('name') or mining.get('profile')})")
        ratio = _number(economics.get("ai_to_mining_revenue"))
        if ratio is not None:
            sentence += f"; AI / mining revenue per MW: {ratio:.1f}x"
        sentence += ". This run has no decision model: a comparison of margins per MW, not a plan."
    flip_lines = []
    sens = _dict(economics.get("sensitivity"))
    market = _dict(economics.get("market"))
    if _number(sens.get("mining_breakeven_btc")) is not None:
        flip_lines.append(f"mining breaks even at a BTC price of {amount(sens['mining_breakeven_btc'], 'USD')} "
                          f"(today {amount(market.get('btc_price_usd'), 'USD')})")
    if _number(sens.get("gpuaas_breakeven_gpu_hour")) is not None:
        flip_lines.append(f"GPUaaS breaks even at {amount(sens['gpuaas_breakeven_gpu_hour'], 'USD')} per GPU-hour")
    tables = [uses_table(economics)] if rows else []
    return Verdict("Site view (no decision model in this run): margin per MW by use", sentence, tables, flip_lines,
                   provenance(doc, "published"), fallback=True)


def verdict(doc: dict) -> Verdict:
    """The verdict of a run file: its plan's where it has one, else the labelled site view."""
    plan = doc.get("plan")
    if isinstance(plan, dict) and plan.get("strategies"):
        out = from_plan(doc, plan)
    else:
        out = from_site_view(doc, _dict(doc.get("economics")))
    if not doc.get("complete", True):
        out.alerts.append("INCOMPLETE run: interrupted before every case was measured")
    bad = [r for r in doc.get("results") or [] if isinstance(r, dict) and not r.get("verified", True)]
    if bad:
        out.alerts.append(f"{len(bad)} result(s) FAILED VERIFICATION and were left out of the money")
    return out
