"""The site view of a run: verified measurements + profiles + site + market -> the run file's `economics`.

Built at run time from bench.profiles, bench.economics and bench.scaling, and stored in the run file,
so a saved run re-renders as it was priced. Only verified results come in (bench.run filters them).

Shape (what bench.report_site and bench.report_plots draw):
  site, market                  ids, names and the figures applied
  uses                          rows per MW of facility power per year: mining for each ASIC profile,
                                GPUaaS and token sales for each GPU profile with a market price, hosting
  mining_efficiency             J/TH: every ASIC at nameplate, and every SHA-256d result measured here
  gemm_scaling                  measured GEMM efficiency applied to each GPU profile (next to its peak)
  sensitivity                   GPUaaS margin minus mining margin over BTC price x GPU-hour price
  assumptions                   what every number above rests on
"""

from __future__ import annotations

import numpy as np

from bench import economics as econ
from bench import profiles as prof
from bench import scaling
from bench.economics import measured as measured_basis
from bench.economics import plan as econ_plan
from bench.economics import strategies
from bench.errors import UsageError
from bench.results import Result

# Sensitivity axes as multiples of today's prices: BTC linear; GPU-hour geometric from near zero, because
# GPUaaS breaks even with mining far below today's GPU-hour prices (shown on a log axis).
BTC_GRID = np.linspace(0.25, 2.5, 40)
GPU_HOUR_GRID = np.geomspace(0.02, 2.5, 40)


def _profiles(ids: list[str] | None, ps: prof.ProfileSet) -> tuple[list, list]:
    """The ASIC and GPU profiles named by --profile (UsageError for unknown ids or other kinds)."""
    asics, gpus = [], []
    for pid in ids or []:
        found = ps.lookup(pid)
        if not found:
            known = ", ".join(sorted([*ps.by_kind["asic"], *ps.by_kind["gpu"]]))
            raise UsageError(f"--profile: no ASIC or GPU profile {pid!r}; profiles: {known} "
                             "(see `python -m bench profiles`)")
        if found[0].kind == "cpu":
            raise UsageError(f"--profile: {pid!r} is a CPU profile; give ASIC or GPU profiles to scale to")
        (asics if found[0].kind == "asic" else gpus).append(found[0])
    return asics, gpus


def check_inputs(*, profiles=None, site=None, market=None) -> dict:
    """Resolve --profile/--site/--market before anything is measured; UsageError (exit 2) if unknown."""
    ps = prof.profiles()
    s = ps.find("site", site) if site else ps.default_site()
    m = ps.find("market", market) if market else ps.latest_market()
    asics, gpus = _choose(ps, m, profiles)
    return {"site": s.id, "market": m.id, "asics": [a.id for a in asics], "gpus": [g.id for g in gpus]}


def _base_pair(site, asics: list, gpus: list):
    """The ASIC and GPU the headline comparison and the sensitivity use: the site's defaults where they are
    among those priced (as `bench economics` does), else the most efficient ASIC and the first GPU."""
    asic = next((a for a in asics if a.id == site.default_asic), asics[0])
    gpu = next((g for g in gpus if g.id == site.default_gpu), gpus[0])
    return asic, gpu


def _choose(ps, market, ids) -> tuple[list, list]:
    """ASICs and GPUs to price: those named by --profile, else every ASIC and every GPU with a price."""
    asics, gpus = _profiles(ids, ps)
    asics = sorted(asics or ps.by_kind["asic"].values(), key=lambda a: a.j_per_th)
    gpus = gpus or [g for g in ps.by_kind["gpu"].values() if g.id in market.gpu_hour_usd]
    unpriced = [g.id for g in gpus if g.id not in market.gpu_hour_usd]
    if unpriced:
        raise UsageError(f"--profile: market {market.id} has no GPU-hour price for {', '.join(unpriced)}; "
                         f"it prices {', '.join(market.gpu_hour_usd) or 'no GPU'}")
    if not asics or not gpus:
        raise UsageError("economics need at least one ASIC profile and one GPU profile with a market price")
    return asics, gpus


def _row(use: econ.UseResult, profile_id: str, name: str, basis: str) -> dict:
    return {"use": use.use, "profile": profile_id, "name": name, "pue": use.pue,
            "revenue_usd_per_mw_year": use.revenue_usd_per_year,
            "power_cost_usd_per_mw_year": use.power_cost_usd_per_year,
            "margin_usd_per_mw_year": use.margin_usd_per_year,
            "capex_usd_per_mw": use.capex_usd, "payback_years": use.payback_years, "npv_usd_per_mw": use.npv_usd,
            "basis": basis, "notes": list(use.notes)}


def mining_efficiency(asics, results: list[Result]) -> list[dict]:
    """J/TH of each ASIC at nameplate and of each SHA-256d result measured here (with its energy source)."""
    rows = [{"name": a.name, "profile": a.id, "kind": "asic", "basis": "nameplate", "j_per_th": a.j_per_th}
            for a in asics]
    for r in results:
        energy = r.energy or {}
        if r.workload != "sha256d" or not energy.get("joules_per_unit"):
            continue
        kind = "gpu" if r.device_kind == "gpu" else "cpu"
        rows.append({"name": f"{r.backend}:{r.device_index} {r.device}", "profile": "", "kind": kind,
                     "basis": f"measured here ({energy.get('source')})",
                     "j_per_th": energy["joules_per_unit"] * 1e12})  # the window's joules / hashes
    return rows


def gemm_scaling(gpus, results: list[Result]) -> list[dict]:
    """Per dtype, the best fraction of peak measured here on the largest GEMM (steady, i.e. not NOISY,
    where any is), applied to each GPU's peak at that dtype (bench.scaling.gpu_scaled) next to that peak,
    with the GPU's system power."""
    usable = [r for r in results if r.workload == "gemm" and (r.params or {}).get("dtype")
              and r.fraction_of_peak is not None and 0 < r.fraction_of_peak <= 1.05
              and (r.extra or {}).get("peak_flop_per_s")]
    best: dict[str, Result] = {}
    for dtype in dict.fromkeys(r.params["dtype"] for r in usable):
        mine = [r for r in usable if r.params["dtype"] == dtype]
        mine = [r for r in mine if not r.noisy] or mine
        best[dtype] = max(mine, key=lambda r: (r.params["m"] * r.params["n"] * r.params["k"], r.fraction_of_peak))
    rows = []
    for dtype, r in best.items():
        for g in gpus:
            if dtype not in g.peak_tflops:
                continue
            point = scaling.gpu_scaled(min(r.value, r.extra["peak_flop_per_s"]), r.extra["peak_flop_per_s"], g, dtype)
            rows.append({"gpu": g.name, "profile": g.id, "dtype": dtype, "peak_flop_per_s": g.peak_tflops[dtype] * 1e12,
                         "measured_efficiency": point.efficiency, "scaled_flop_per_s": point.throughput,
                         "system_w_per_gpu": point.watts, "scaled_flop_per_joule": point.per_watt,
                         "measured_on": f"{r.backend}:{r.device_index} {r.device} "
                                        f"{r.params.get('m')}x{r.params.get('n')}x{r.params.get('k')}"})
    return rows


def _sensitivity(cmp: econ.Comparison, market, site) -> dict:
    btc, gph = cmp.inputs["btc_price_usd"], cmp.inputs["gpu_hour_usd"]
    sens = econ.sensitivity(cmp, BTC_GRID * btc, GPU_HOUR_GRID * gph, block_height=market.block_height,
                            horizon_years=site.horizon_years)
    return {
        "xs": sens.btc_prices.tolist(), "ys": sens.gpu_hour_prices.tolist(),
        "z": sens.advantage.T.tolist(),  # rows follow ys (GPU-hour price), columns xs (BTC price)
        "x_label": "BTC price (USD)", "y_label": f"GPU-hour price (USD, {cmp.gpu}, log scale)", "y_scale": "log",
        "z_label": "GPUaaS margin minus mining margin, million USD per MW-year",
        "title": f"GPUaaS ({cmp.gpu}) vs mining ({cmp.asic}); black line: break-even",
        "mining_breakeven_btc": sens.mining_breakeven_btc,
        "gpuaas_breakeven_gpu_hour": sens.gpuaas_breakeven_gpu_hour,
    }


def economics(results: list[Result], *, profiles=None, site=None, market=None, run=None) -> dict:
    """The `economics` section of a run file (see the module docstring)."""
    ps = prof.profiles()
    s = ps.find("site", site) if site else ps.default_site()
    m = ps.find("market", market) if market else ps.latest_market()
    asics, gpus = _choose(ps, m, profiles)
    results = [r for r in results if r.verified]
    try:
        uses, assumptions = [], []
        asic, gpu = _base_pair(s, asics, gpus)
        base = econ.compare_uses(s, m, asic, gpu)
        for a in asics:
            cmp = econ.compare_uses(s, m, a, gpu)
            uses.append(_row(cmp.uses["mining"], a.id, a.name, f"nameplate {a.j_per_th:.1f} J/TH"))
        for g in gpus:
            cmp = econ.compare_uses(s, m, asic, g)
            price = cmp.inputs["gpu_hour_usd"]
            uses.append(_row(cmp.uses["gpuaas"], g.id, g.name, f"${price:g}/GPU-hour, {s.gpu_utilization:.0%} sold"))
            tokens = _row(cmp.uses["tokens"], g.id, g.name, f"{g.ref_tokens_per_s:,.0f} tok/s/GPU published, "
                          f"{s.token_utilization:.0%} used" if g.ref_tokens_per_s else "no serving figure")
            tokens["notes"].append(f"serving figure: {g.ref_model}")
            uses.append(tokens)
        uses.append(_row(base.uses["hosting"], "", "colocation",
                         f"${base.inputs['hosting_usd_per_kw_month']:g}/kW-month of IT load"))
        assumptions = list(base.assumptions)
        sensitivity = _sensitivity(base, m, s)
    except ValueError as exc:
        raise UsageError(f"economics: {exc}") from None
    assumptions.append("token sales use each GPU profile's published serving throughput; this run's inference "
                       "figures (small models, this machine) are reported above but not scaled to them")
    return {
        "site": {"id": s.id, "name": s.name, "facility_mw": s.facility_mw, "pue_by_use": base.inputs["pue_by_use"],
                 "power_price_usd_per_mwh": s.power_price_usd_per_mwh, "uptime": s.uptime},
        "market": {"id": m.id, "date": m.date.isoformat(), "btc_price_usd": m.btc_price_usd,
                   "difficulty": m.difficulty, "fees_btc_per_block": m.fees_btc_per_block},
        "per": "facility MW per year",
        "uses": uses,
        "ai_to_mining_revenue": base.ai_to_mining_revenue,
        "headline": {"asic": asic.id, "gpu": gpu.id},  # the pair behind the ratio and the sensitivity
        "mining_efficiency": mining_efficiency(list(ps.by_kind["asic"].values()), results),
        "gemm_scaling": gemm_scaling(list(ps.by_kind["gpu"].values()), results),
        "sensitivity": sensitivity,
        "assumptions": assumptions,
    }


def site_plan(ps: prof.ProfileSet, *, site=None, market=None, asic=None, gpu=None, names=None,
              **build_kw) -> econ_plan.Plan:
    """The conversion plan of a site (its default ASIC and GPU unless given), ranked by NPV; UsageError for
    anything a user must fix. Shared by `bench plan` and the run report."""
    site_p = ps.find("site", site) if site else ps.default_site()
    market_p = ps.find("market", market) if market else ps.latest_market()
    asic_id, gpu_id = asic or site_p.default_asic, gpu or site_p.default_gpu
    if asic_id is None or gpu_id is None:
        missing = "--asic" if asic_id is None else "--gpu"
        raise UsageError(f"{missing}: site {site_p.id} names no default; pick one (see `python -m bench profiles`)")
    refresh = ps.find("asic", site_p.plan.refresh_asic) if site_p.plan and site_p.plan.refresh_asic else None
    try:
        return econ_plan.build_plan(site_p, market_p, ps.find("asic", asic_id), ps.find("gpu", gpu_id),
                                    refresh_asic=refresh, names=names or list(strategies.DEFAULT_STRATEGIES),
                                    **build_kw)
    except ValueError as exc:
        raise UsageError(f"plan: {exc}") from None


def run_plan(results: list[Result], *, site=None, market=None) -> dict:
    """The plan for the run's site, on published figures (the verdict a run report leads with), and how this
    run's own verified decode, scaled to the site's GPU, would change the token-sales line."""
    ps = prof.profiles()
    plan = site_plan(ps, site=site, market=market, with_scenarios=False)
    doc = plan.to_dict()
    try:
        found = measured_basis.best_decode({"results": [r.to_dict() for r in results]})
    except ValueError as exc:
        doc["measured_here"] = {"used": False, "why": str(exc)}
        return doc
    try:
        alt = site_plan(ps, site=site, market=market, names=[*strategies.DEFAULT_STRATEGIES, "tokens"],
                        measured=found, basis="measured", with_scenarios=False)
    except UsageError as exc:
        doc["measured_here"] = {"used": False, "why": str(exc)}
        return doc
    tokens = next((s for s in alt.to_dict()["strategies"] if s["name"] == "tokens"), None)
    doc["measured_here"] = {"used": True, "basis_detail": alt.to_dict().get("basis_detail"),
                            "tokens_npv_usd": tokens["npv_usd"] if tokens else None}
    return doc
