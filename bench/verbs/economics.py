"""`bench economics`: the four uses of one MW side by side (rich table or JSON), from profiles + flags."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table

from bench import console, economics, profiles
from bench.console import usd
from bench.economics.inputs import implausible
from bench.errors import UsageError
from bench.files import check_destination, check_finite, dumps, write_output

HELP = "revenue, costs and margin per MW: mining vs GPUaaS vs hosting vs tokens"
EPILOG = """examples:
  python -m bench economics
  python -m bench economics --btc-price 120000 --power-price 45 --json -
  python -m bench economics --site seed-washington-18mw-gb300 --pue-ai 1.25"""


def add_arguments(p) -> None:
    p.add_argument("--site", metavar="ID", help="site profile (default: the default site)")
    p.add_argument("--market", metavar="ID", help="market snapshot (default: the newest)")
    p.add_argument("--pue", type=float, metavar="X",
                   help="PUE of every use, facility / IT power (1-3; default: the site's, per use)")
    p.add_argument("--pue-mining", type=float, metavar="X", help="PUE of the mining halls only (1-3)")
    p.add_argument("--pue-ai", type=float, metavar="X",
                   help="PUE of the AI uses only: GPUaaS, hosting, token sales (1-3)")
    p.add_argument("--power-price", type=float, metavar="USD_PER_MWH",
                   help="power price, $/MWh on facility MWh (1-1000, or 0)")
    p.add_argument("--btc-price", type=float, metavar="USD", help="BTC price, USD (1,000-10,000,000)")
    p.add_argument("--difficulty", type=float, metavar="D",
                   help="network difficulty, the full number (148.26 T = 148.26e12; 1e12-1e17)")
    p.add_argument("--fees-btc-per-block", type=float, metavar="BTC", help="transaction fees per block, BTC (0-5)")
    p.add_argument("--asic", metavar="ID", help="ASIC profile mined with (default: the site's)")
    p.add_argument("--gpu", metavar="ID", help="GPU profile for GPUaaS and token sales (default: the site's)")
    p.add_argument("--gpu-hour-price", type=float, metavar="USD",
                   help="GPU-hour price of --gpu, USD per GPU-hour (0.05-50)")
    p.add_argument("--hosting-price", type=float, metavar="USD_PER_KW_MONTH",
                   help="lease rate, USD per kW-month of IT load (5-1000)")
    p.add_argument("--json", metavar="PATH|-", help="write the figures as JSON ('-' = stdout, nothing else there)")


# flag -> (attribute, rule, test); then the plausible range and unit (a value outside it is in the wrong unit
# or a typo: $0.045/kWh typed as $/MWh, a difficulty in T, a BTC price of 1e-300)
_RULES = {
    "--pue": ("pue", ">= 1 and <= 3", lambda v: 1 <= v <= 3),
    "--pue-mining": ("pue_mining", ">= 1 and <= 3", lambda v: 1 <= v <= 3),
    "--pue-ai": ("pue_ai", ">= 1 and <= 3", lambda v: 1 <= v <= 3),
    "--power-price": ("power_price", ">= 0 $/MWh", lambda v: v >= 0),
    "--btc-price": ("btc_price", "> 0 USD", lambda v: v > 0),
    "--difficulty": ("difficulty", "> 0, the full number (148.26 T = 148.26e12)", lambda v: v >= 1e6),
    "--fees-btc-per-block": ("fees_btc_per_block", ">= 0 and <= 100 BTC", lambda v: 0 <= v <= 100),
    "--gpu-hour-price": ("gpu_hour_price", "> 0 USD per GPU-hour", lambda v: v > 0),
    "--hosting-price": ("hosting_price", "> 0 USD per kW-month", lambda v: v > 0),
}
_PLAUSIBLE = {
    "--power-price": (1.0, 1_000.0, "$/MWh"),  # 0 (free power) is allowed too
    "--btc-price": (1_000.0, 10_000_000.0, "USD per BTC"),
    "--difficulty": (1e12, 1e17, "full difficulty (148.26 T = 148.26e12)"),
    "--fees-btc-per-block": (0.0, 5.0, "BTC per block"),
    "--gpu-hour-price": (0.05, 50.0, "USD per GPU-hour"),
    "--hosting-price": (5.0, 1_000.0, "USD per kW-month of IT load"),
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
        if flag in _PLAUSIBLE and not (flag == "--power-price" and value == 0):
            problem = implausible(value, *_PLAUSIBLE[flag])
            if problem:
                raise UsageError(f"{flag}: {problem}")
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
    by_use = {}
    if "pue_mining" in given:
        by_use["mining"] = given.pop("pue_mining")
    if "pue_ai" in given:
        by_use.update(dict.fromkeys(("gpuaas", "hosting", "tokens"), given.pop("pue_ai")))
    try:
        cmp = economics.compare_uses(site, market, asic, gpu, fees=fees, pue_by_use=by_use, **given)
        btc = cmp.inputs["btc_price_usd"]
        gph = cmp.inputs["gpu_hour_usd"]
        sens = economics.sensitivity(cmp, np.linspace(0.25, 2.5, 10) * btc, np.linspace(0.25, 2.5, 10) * gph,
                                     (0.0, 0.01, 0.02, 0.03, 0.04), block_height=market.block_height,
                                     horizon_years=site.horizon_years)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return cmp, sens


def all_in_break_even(use, price: float) -> float | None:
    """The price (BTC or GPU-hour) at which revenue covers power + opex + depreciation (revenue is linear in
    it; the opex share of revenue scales with it too). None when revenue is zero."""
    if use.revenue_usd_per_year <= 0:
        return None
    share = 0.0
    fixed = use.opex_usd_per_year
    per_usd = use.revenue_usd_per_year / price
    if use.figures.get("opex_share_of_revenue"):
        share = use.figures["opex_share_of_revenue"]
        fixed -= share * use.revenue_usd_per_year
    return (use.power_cost_usd_per_year + fixed + use.depreciation_usd_per_year) / (per_usd * (1 - share))


def to_json(cmp, sens) -> dict:
    here = float(np.interp(cmp.inputs["btc_price_usd"], sens.btc_prices, sens.indifference_gpu_hour))
    mine, gpu = cmp.uses["mining"], cmp.uses["gpuaas"]
    return {
        "economics": cmp.to_dict(),
        "figures": {**{f"mining_{k}": v for k, v in mine.figures.items()},
                    "tokens_per_s_per_gpu": cmp.uses["tokens"].figures.get("tokens_per_s_per_gpu"),
                    "hosting_power_passed_through_usd_per_year":
                        cmp.uses["hosting"].figures.get("power_passed_through_usd_per_year"),
                    "tokens_revenue_usd_per_gpu_hour": cmp.uses["tokens"].figures.get("revenue_usd_per_gpu_hour"),
                    "ai_to_mining_revenue": cmp.ai_to_mining_revenue,
                    "site": {name: {"revenue_usd_per_year": u.revenue_usd_per_year * cmp.site_mw,
                                    "capex_usd": u.capex_usd * cmp.site_mw} for name, u in cmp.uses.items()}},
        "break_even": {
            "mining_btc_price_usd": sens.mining_breakeven_btc,
            "gpuaas_gpu_hour_usd": sens.gpuaas_breakeven_gpu_hour,
            "mining_btc_price_all_in_usd": all_in_break_even(mine, cmp.inputs["btc_price_usd"]),
            "gpuaas_gpu_hour_all_in_usd": all_in_break_even(gpu, cmp.inputs["gpu_hour_usd"]),
            "gpu_hour_matching_mining_margin_usd": here,
            "mining_btc_price_by_difficulty_growth": dict(zip(map(str, sens.growths.tolist()),
                                                              sens.breakeven_btc_by_growth.tolist())),
        },
        "sensitivity": sens.to_dict(),
    }


def render(cmp, sens) -> list:
    uses = cmp.uses
    table = Table(title=f"One MW of facility power — site {console.text(cmp.site)}, market {console.text(cmp.market)}",
                  show_lines=False)
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
        ("opex (staff, upkeep, network, ...)", [usd(u.opex_usd_per_year) for u in order]),
        ("EBITDA (margin - opex)", [usd(u.ebitda_usd_per_year) for u in order]),
        ("depreciation", [usd(u.depreciation_usd_per_year) for u in order]),
        ("operating profit (EBITDA - depr.)", [usd(u.operating_profit_usd_per_year) for u in order]),
        ("capex", [usd(u.capex_usd) for u in order]),
        ("payback at today's prices", [_years(u.payback_years) for u in order]),
        (f"NPV, {cmp.inputs['horizon_years']:g} yr at {cmp.inputs['discount_rate']:.0%} (notes)",
         [usd(u.npv_usd) for u in order]),
        (f"site revenue ({cmp.site_mw:g} MW)", [usd(u.revenue_usd_per_year * cmp.site_mw) for u in order]),
        (f"site capex ({cmp.site_mw:g} MW)", [usd(u.capex_usd * cmp.site_mw) for u in order]),
    ]
    for label, cells in rows:  # profile ids and names are the user's text: escaped, never markup
        table.add_row(console.text(label), *(console.text(c) for c in cells))
    here = float(np.interp(cmp.inputs["btc_price_usd"], sens.btc_prices, sens.indifference_gpu_hour))
    growth = ", ".join(f"+{g:.0%}/mo ${b:,.0f}" for g, b in zip(sens.growths, sens.breakeven_btc_by_growth))
    lines = [
        f"[bold]AI / mining revenue per MW: {cmp.ai_to_mining_revenue:.1f}x[/] (GPUaaS vs mining, assumptions below)",
        f"break-even: mining at BTC ${sens.mining_breakeven_btc:,.0f} (power only, today's difficulty; by monthly "
        f"difficulty growth over the horizon: {growth}); GPUaaS at ${sens.gpuaas_breakeven_gpu_hour:.2f}/GPU-hour "
        f"(power only); GPUaaS matches mining's margin at ${here:.2f}/GPU-hour",
        _all_in_line(cmp),
        *[f"- {console.text(a)}" for a in cmp.assumptions],
        *[f"- {u.use}: {console.text(n)}" for u in order for n in u.notes],
    ]
    return [table, *lines]


def _all_in_line(cmp) -> str:
    mine = all_in_break_even(cmp.uses["mining"], cmp.inputs["btc_price_usd"])
    gpu = all_in_break_even(cmp.uses["gpuaas"], cmp.inputs["gpu_hour_usd"])
    cost = lambda v, f: f.format(v) if v is not None else "—"  # noqa: E731
    return (f"break-even with every cost (power + opex + depreciation): mining at BTC {cost(mine, '${:,.0f}')}, "
            f"GPUaaS at {cost(gpu, '${:.2f}')}/GPU-hour")


def main(args) -> int:
    check_destination(args.json, "file", "--json")
    cmp, sens = build(args)
    if args.json:
        data = to_json(cmp, sens)
        check_finite(data, "economics")
        write_output("--json", args.json, dumps(data))
        if args.json == "-":
            return 0
    out = console.out(args.json == "-")
    for item in render(cmp, sens):
        out.print(item)
    return 0
