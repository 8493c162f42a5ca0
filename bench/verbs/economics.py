"""`bench economics`: the four uses of one MW side by side (rich table or JSON), from profiles + flags."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table

from bench import console, economics, profiles
from bench.console import usd
from bench.errors import UsageError
from bench.files import check_destination, emit_json

HELP = "revenue and margin per MW: mining vs GPUaaS vs hosting vs tokens"
EPILOG = """examples:
  python -m bench economics
  python -m bench economics --btc-price 120000 --power-price 45 --json -"""


def add_arguments(p) -> None:
    p.add_argument("--site", metavar="ID", help="site profile id (default: the site marked default)")
    p.add_argument("--market", metavar="ID", help="market snapshot id (default: the newest)")
    p.add_argument("--pue", type=float, metavar="X", help="override the site's PUE (facility power / IT power, 1-3)")
    p.add_argument("--power-price", type=float, metavar="USD_PER_MWH", help="power price in $/MWh (e.g. 45, not 0.045)")
    p.add_argument("--btc-price", type=float, metavar="USD", help="bitcoin price in $")
    p.add_argument("--difficulty", type=float, metavar="D", help="network difficulty, the full number (148.26 T = 148.26e12)")
    p.add_argument("--fees-btc-per-block", type=float, metavar="F", help="transaction fees per block in BTC")
    p.add_argument("--asic", metavar="ID", help="ASIC profile for the mining row (default: the site's)")
    p.add_argument("--gpu", metavar="ID", help="GPU profile for the AI rows (default: the site's)")
    p.add_argument("--gpu-hour-price", type=float, metavar="USD", help="GPU rental price in $ per GPU-hour")
    p.add_argument("--hosting-price", type=float, metavar="USD_PER_KW_MONTH", help="hosting rent in $ per kW-month")
    p.add_argument("--json", metavar="PATH|-", help="write every figure as JSON to PATH ('-' = stdout)")

# flag -> (attribute, rule, test)
_RULES = {
    "--pue": ("pue", ">= 1 and <= 3", lambda v: 1 <= v <= 3),
    "--power-price": ("power_price", ">= 0 $/MWh", lambda v: v >= 0),
    "--btc-price": ("btc_price", "> 0 USD", lambda v: v > 0),
    "--difficulty": ("difficulty", "> 0, the full number (148.26 T = 148.26e12)", lambda v: v >= 1e6),
    "--fees-btc-per-block": ("fees_btc_per_block", ">= 0 and <= 100 BTC", lambda v: 0 <= v <= 100),
    "--gpu-hour-price": ("gpu_hour_price", "> 0 USD per GPU-hour", lambda v: v > 0),
    "--hosting-price": ("hosting_price", "> 0 USD per kW-month", lambda v: v > 0),
}


def _overrides(args) -> dict:
    """The numeric flags given, checked: UsageError names the flag, the rule and the value."""
    given = {}
    for flag, (attr, rule, ok) in _RULES.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        if not (math.isfinite(value) and ok(value)):
            raise UsageError(f"{flag}: must be {rule} (got {value:g})")
        given[attr] = value
    return given


def _years(x: float | None) -> str:
    return f"{x:.1f} yr" if x is not None else "never"


def build(args):
    """Profiles, overrides -> (Comparison, Sensitivity); shared by the table and the JSON."""
    given = _overrides(args)
    ps = profiles.profiles()
    site = ps.find("site", args.site) if args.site else ps.default_site()
    market = ps.find("market", args.market) if args.market else ps.latest_market()
    asic_id = args.asic or site.default_asic
    gpu_id = args.gpu or site.default_gpu
    if asic_id is None or gpu_id is None:
        missing = "--asic" if asic_id is None else "--gpu"
        raise UsageError(f"{missing}: site {site.id} names no default; pick one (see `python -m bench profiles`)")
    asic, gpu = ps.find("asic", asic_id), ps.find("gpu", gpu_id)
    fees = given.pop("fees_btc_per_block", None)
    try:
        cmp = economics.compare_uses(site, market, asic, gpu, fees=fees, **given)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    btc = cmp.inputs["btc_price_usd"]
    gph = cmp.inputs["gpu_hour_usd"]
    sens = economics.sensitivity(cmp, np.linspace(0.25, 2.5, 10) * btc, np.linspace(0.25, 2.5, 10) * gph,
                                 (0.0, 0.01, 0.02, 0.03, 0.04), block_height=market.block_height,
                                 horizon_years=site.horizon_years)
    return cmp, sens


def to_json(cmp, sens) -> dict:
    here = float(np.interp(cmp.inputs["btc_price_usd"], sens.btc_prices, sens.indifference_gpu_hour))
    return {
        "economics": cmp.to_dict(),
        "break_even": {
            "mining_btc_price_usd": sens.mining_breakeven_btc,
            "gpuaas_gpu_hour_usd": sens.gpuaas_breakeven_gpu_hour,
            "gpu_hour_matching_mining_margin_usd": here,
            "mining_btc_price_by_difficulty_growth": dict(zip(map(str, sens.growths.tolist()),
                                                              sens.breakeven_btc_by_growth.tolist())),
        },
        "sensitivity": sens.to_dict(),
    }


def render(cmp, sens) -> list:
    uses = cmp.uses
    table = Table(title=f"One MW of facility power — site {cmp.site}, market {cmp.market}", show_lines=False)
    table.add_column("per facility MW, per year", no_wrap=True)
    for head in ("Mining", "GPUaaS", "Hosting", "Token sales"):
        table.add_column(head, justify="right")
    order = [uses[u] for u in economics.USES]
    mine, gpu, host, tok = order
    rows = [
        ("PUE applied", [f"{u.pue:g}" for u in order]),
        ("IT power", [f"{u.it_kw:,.0f} kW" for u in order]),
        ("machines", [f"{mine.units:,.0f} {cmp.asic}", f"{gpu.units:,.0f} {cmp.gpu}", f"{host.units:,.0f} kW leased",
                      f"{tok.units:,.0f} {cmp.gpu}"]),
        ("output", [f"{mine.output:,.1f} PH/s", f"{gpu.output / 1e6:,.2f} M GPU-h", f"{host.output:,.0f} kW",
                    f"{tok.output / 1e12:,.2f} T tokens"]),
        ("revenue", [usd(u.revenue_usd_per_year) for u in order]),
        ("power cost", [usd(u.power_cost_usd_per_year) for u in order]),
        ("margin (revenue - power)", [usd(u.margin_usd_per_year) for u in order]),
        ("capex", [usd(u.capex_usd) for u in order]),
        ("payback at today's prices", [_years(u.payback_years) for u in order]),
        (f"NPV, {cmp.inputs['horizon_years']:g} yr at {cmp.inputs['discount_rate']:.0%} (notes)",
         [usd(u.npv_usd) for u in order]),
        (f"site revenue ({cmp.site_mw:g} MW)", [usd(u.revenue_usd_per_year * cmp.site_mw) for u in order]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    here = float(np.interp(cmp.inputs["btc_price_usd"], sens.btc_prices, sens.indifference_gpu_hour))
    growth = ", ".join(f"+{g:.0%}/mo ${b:,.0f}" for g, b in zip(sens.growths, sens.breakeven_btc_by_growth))
    lines = [
        f"[bold]AI / mining revenue per MW: {cmp.ai_to_mining_revenue:.1f}x[/] (GPUaaS vs mining, assumptions below)",
        f"break-even: mining at BTC ${sens.mining_breakeven_btc:,.0f} (today's difficulty; by monthly difficulty "
        f"growth over the horizon: {growth}); GPUaaS at ${sens.gpuaas_breakeven_gpu_hour:.2f}/GPU-hour; GPUaaS "
        f"matches mining's margin at ${here:.2f}/GPU-hour",
        *[f"- {a}" for a in cmp.assumptions],
        *[f"- {u.use}: {n}" for u in order for n in u.notes],
    ]
    return [table, *lines]


def main(args) -> int:
    check_destination(args.json, "file", "--json")
    cmp, sens = build(args)
    if args.json:
        emit_json(to_json(cmp, sens), args.json)
        if args.json == "-":
            return 0
    out = console.out(args.json == "-")
    for item in render(cmp, sens):
        out.print(item)
    return 0
