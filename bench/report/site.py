"""The site view as report tables: revenue, power cost and margin per MW by use, and J/TH lab vs ASICs.

Reads the `economics` section of a run file (written by bench.site_view at run time), so a saved run
re-renders exactly as it was priced, whatever the profiles say today.
"""

from __future__ import annotations

from bench.console import si, usd
from bench.report.model import Table

USE_NAMES = {"mining": "Bitcoin mining", "gpuaas": "GPU-as-a-service", "hosting": "Hosting / colocation",
             "tokens": "Token sales"}


def uses_table(economics: dict) -> Table:
    site = economics.get("site") or {}
    market = economics.get("market") or {}
    title = (f"Site view: per MW of facility power per year — site {site.get('name') or site.get('id', '?')}, "
             f"market {market.get('id', '?')} ({market.get('date', 'undated')})")
    table = Table(title, ["use", "profile", "PUE", "revenue", "power cost", "margin", "basis"])
    for row in economics.get("uses") or []:
        margin = row.get("margin_usd_per_mw_year")
        table.add([
            USE_NAMES.get(row.get("use"), row.get("use")),
            row.get("name") or row.get("profile") or "",
            f"{row['pue']:.2f}" if isinstance(row.get("pue"), (int, float)) else "",
            usd(row.get("revenue_usd_per_mw_year")),
            usd(row.get("power_cost_usd_per_mw_year")),
            usd(margin),
            row.get("basis", ""),
        ], "bad" if isinstance(margin, (int, float)) and margin < 0 else "")
    ratio = economics.get("ai_to_mining_revenue")
    if isinstance(ratio, (int, float)):
        pair = economics.get("headline") or {}
        basis = (f"GPUaaS on {pair['gpu']} vs mining on {pair['asic']}" if pair.get("asic") and pair.get("gpu")
                 else "GPUaaS vs mining, the run's headline pair")
        table.notes.append(f"AI / mining revenue per MW: {ratio:.1f}x ({basis})")
    table.notes.extend(str(a) for a in economics.get("assumptions") or [])
    return table


def gemm_scaling_table(economics: dict) -> Table:
    table = Table("GEMM scaled to GPU profiles: the fraction of peak measured here, applied to each GPU's peak",
                  ["GPU", "dtype", "peak (nameplate)", "measured fraction", "scaled", "system W/GPU",
                   "scaled FLOP/J", "measured on"])
    for row in economics.get("gemm_scaling") or []:
        table.add([row.get("gpu", ""), row.get("dtype", ""), si(row.get("peak_flop_per_s"), "FLOP/s"),
                   f"{row['measured_efficiency']:.0%}" if row.get("measured_efficiency") is not None else "—",
                   si(row.get("scaled_flop_per_s"), "FLOP/s"), f"{row.get('system_w_per_gpu', 0):g}",
                   si(row.get("scaled_flop_per_joule"), "FLOP/J"), row.get("measured_on", "")])
    table.notes.append("nameplate and scaled figures side by side; power is the profile's system power per GPU")
    return table


def efficiency_table(economics: dict) -> Table:
    table = Table("Mining efficiency: this lab's measurements against ASICs (lower J/TH is better)",
                  ["hardware", "kind", "J/TH", "hashes per joule", "basis"])
    rows = sorted(economics.get("mining_efficiency") or [], key=lambda r: r.get("j_per_th") or float("inf"))
    for row in rows:
        jth = row.get("j_per_th")
        table.add([row.get("name", ""), row.get("kind", ""), f"{jth:.3g}" if jth else "—",
                   f"{1e12 / jth:.3g}" if jth else "—", row.get("basis", "")],
                  "" if row.get("kind") == "asic" else "ref")
    table.notes.append("ASICs at nameplate; measured rows are from this run (their energy source is named); "
                       "GPUs and CPUs are far less efficient at SHA-256d — why ASICs mine and GPUs serve AI")
    return table


def tables(economics: dict | None) -> list[Table]:
    if not economics:
        return []
    out = []
    if economics.get("uses"):
        out.append(uses_table(economics))
    if economics.get("mining_efficiency"):
        out.append(efficiency_table(economics))
    if economics.get("gemm_scaling"):
        out.append(gemm_scaling_table(economics))
    return out
