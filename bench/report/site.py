"""The site view as report tables: revenue, power cost and margin per MW by use, J/TH lab vs ASICs, GEMM
scaled to GPU profiles; each in full (the detail) and, for the last two, short (the first screens).

Reads the `economics` section of a run file (written by bench.site_view at run time), so a saved run
re-renders exactly as it was priced, whatever the profiles say today.
"""

from __future__ import annotations

from bench.console import si, usd
from bench.report.model import Table
from bench.results import Result

USE_NAMES = {"mining": "Bitcoin mining", "gpuaas": "GPU-as-a-service", "hosting": "Hosting / colocation",
             "tokens": "Token sales"}


def uses_table(economics: dict) -> Table:
    site = economics.get("site") or {}
    market = economics.get("market") or {}
    title = (f"Site view: per MW of facility power per year — site {site.get('name') or site.get('id', '?')}, "
             f"market {market.get('id', '?')} ({market.get('date', 'undated')})")
    table = Table(title, ["use", "profile", "PUE", "revenue", "power cost", "margin", "capex", "payback", "NPV",
                          "basis"])
    for row in economics.get("uses") or []:
        margin = row.get("margin_usd_per_mw_year")
        table.add([
            USE_NAMES.get(row.get("use"), row.get("use")),
            row.get("name") or row.get("profile") or "",
            f"{row['pue']:.2f}" if isinstance(row.get("pue"), (int, float)) else "",
            usd(row.get("revenue_usd_per_mw_year")),
            usd(row.get("power_cost_usd_per_mw_year")),
            usd(margin),
            usd(row.get("capex_usd_per_mw")),
            f"{row['payback_years']:.1f} yr" if isinstance(row.get("payback_years"), (int, float)) else "—",
            usd(row.get("npv_usd_per_mw")),
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
        table.add([row.get("name", ""), row.get("kind", ""), si(jth, "J/TH") if jth else "—",
                   f"{1e12 / jth:.3g}" if jth else "—", row.get("basis", "")],
                  "" if row.get("kind") == "asic" else "ref")
    table.notes.append("ASICs at nameplate; measured rows are from this run (their energy source is named); "
                       "GPUs and CPUs are far less efficient at SHA-256d — why ASICs mine and GPUs serve AI")
    return table


def gemm_scaling_compact(economics: dict, results: list[Result]) -> Table | None:
    """One row per GPU profile, one column per dtype: the scaled FLOP/s and the measured fraction behind it,
    with the kernel each dtype's fraction came from (the best measured, as priced) in the notes."""
    rows = [r for r in economics.get("gemm_scaling") or [] if isinstance(r, dict)]
    if not rows:
        return None
    dtypes = list(dict.fromkeys(str(r.get("dtype", "?")) for r in rows))
    table = Table("GEMM scaled to GPU profiles: this machine's best fraction of peak x each GPU's peak",
                  ["GPU", *(f"{d}\nTFLOP/s" for d in dtypes)])
    by_gpu: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_gpu.setdefault(str(r.get("gpu", "?")), {})[str(r.get("dtype", "?"))] = r
    for gpu, cells in by_gpu.items():
        table.add([gpu[:28], *(f"{_tflops(cells[d].get('scaled_flop_per_s'))} "
                               f"({_fraction(cells[d].get('measured_efficiency'))})" if d in cells else "—"
                               for d in dtypes)])
    kernels = {(r.backend, r.device_index, r.params.get("m"), r.params.get("n"), r.params.get("k"),
                r.params.get("dtype")): (r.extra or {}).get("kernel") for r in results if r.workload == "gemm"}
    for d in dtypes:
        row = next(r for r in rows if str(r.get("dtype")) == d)
        measured_on = str(row.get("measured_on", ""))
        label = measured_on.split(" ")[0]
        backend, _, index = label.partition(":")
        shape = measured_on.rsplit(" ", 1)[-1].split("x")
        kernel = kernels.get((backend, int(index) if index.isdigit() else index,
                              *(int(x) if x.isdigit() else x for x in shape), d)) if len(shape) == 3 else None
        table.notes.append(f"{d}: from {measured_on}" + (f" ({kernel})" if kernel else "")
                           + f" at {_fraction(row.get('measured_efficiency'))} of its peak")
    table.notes.append("cell: scaled TFLOP/s (the measured fraction of peak behind it); with power and nameplate "
                       "peaks under 'Site view'")
    return table


def _tflops(value) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    t = value / 1e12
    return f"{t:,.0f}" if t >= 100 else f"{t:.3g}"


def _fraction(value) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) else "—"


def efficiency_compact(economics: dict) -> Table | None:
    """The most efficient ASIC next to every SHA-256d result measured here: why ASICs mine."""
    rows = [r for r in economics.get("mining_efficiency") or [] if isinstance(r, dict) and r.get("j_per_th")]
    asics = sorted((r for r in rows if r.get("kind") == "asic"), key=lambda r: r["j_per_th"])
    measured = [r for r in rows if r.get("kind") != "asic"]
    if not asics and not measured:
        return None
    table = Table("Mining efficiency: the best ASIC against this machine (lower J/TH is better)",
                  ["hardware", "kind", "J/TH", "x the best ASIC", "basis"])
    best = asics[0]["j_per_th"] if asics else None
    for r in asics[:1] + sorted(measured, key=lambda r: r["j_per_th"]):
        table.add([str(r.get("name", ""))[:44], r.get("kind", ""), si(r["j_per_th"], "J/TH"),
                   f"{r['j_per_th'] / best:,.0f}x" if best else "—", r.get("basis", "")],
                  "" if r.get("kind") == "asic" else "ref")
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
