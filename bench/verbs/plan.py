"""`bench plan`: keep mining or convert — every strategy on one site over one horizon, ranked, with a verdict."""

from __future__ import annotations

import argparse
import csv
import io
import json

from rich.table import Table

from bench import console, pricing, profiles
from bench.console import usd
from bench.economics import bitcoin, cashflow, inputs, measured, plan, strategies
from bench.errors import UsageError
from bench.files import check_destination, check_finite, dumps, write_output

HELP = "the conversion decision over time: cash flows, NPV, IRR, payback per strategy, ranked, with a verdict"
EPILOG = """examples:
  python -m bench plan
  python -m bench plan --years 15 --strategy mining --strategy hosting
  python -m bench plan --site seed-washington-18mw-gb300 --json plan.json --csv months.csv
  python -m bench plan --btc-price 150000 --gpu-hour-price 3.5 --build-months 18
  python -m bench plan --basis measured --run reports/example-h100/run.json --strategy tokens"""

# flag -> (PlanInputs fields it sets, metavar, help); the range and unit come from inputs.PLAUSIBLE
OVERRIDES = {
    "--power-price": (("power_usd_per_mwh",), "USD_PER_MWH", "power price, $/MWh on facility MWh (5-1000)"),
    "--btc-price": (("btc_price_usd",), "USD", "BTC price today, USD (1,000-10,000,000)"),
    "--btc-drift": (("btc_drift_per_year",), "FRACTION", "BTC price drift per year, fraction (-0.5-2; 0.1 = +10%/yr)"),
    "--difficulty": (("difficulty",), "D", "network difficulty, the full number (148.26 T = 148.26e12)"),
    "--difficulty-growth": (("difficulty_growth_monthly",), "FRACTION",
                            "difficulty growth per month, fraction (-0.1-0.15; 0.02 = +2%/month)"),
    "--fees-btc-per-block": (("fees_btc_per_block",), "BTC", "transaction fees per block, BTC (0-5)"),
    "--gpu-hour-price": (("gpu_hour_usd",), "USD", "GPU-hour price of the site's GPU, USD per GPU-hour (0.05-50)"),
    "--gpu-hour-decay": (("gpu_hour_decay_per_year",), "FRACTION",
                         "GPU-hour price fall per year within a generation, fraction (0-0.6)"),
    "--hosting-price": (("hosting_usd_per_kw_month",), "USD_PER_KW_MONTH",
                        "lease rate, USD per kW-month of IT load (5-1000)"),
    "--lease-escalator": (("lease_escalator",), "FRACTION", "lease escalator per year, fraction (0-0.15)"),
    "--lease-years": (("lease_term_years",), "YEARS", "lease term, years (1-30)"),
    "--build-months": (("build_months", "hosting_build_months", "tokens_build_months"), "MONTHS",
                       "construction before the first AI revenue, months (0-48)"),
    "--capex-per-mw": (("ai_capex_usd_per_mw_it",), "USD_PER_MW_IT",
                       "AI hall capex excluding GPUs, USD per MW of IT load (0-50e6)"),
    "--pue": (("pue_mining", "pue_gpuaas", "pue_hosting", "pue_tokens"), "X", "PUE of every use (1-2)"),
    "--pue-mining": (("pue_mining",), "X", "PUE of the mining halls (1-2)"),
    "--pue-ai": (("pue_gpuaas", "pue_hosting", "pue_tokens"), "X", "PUE of the AI hall (1-2)"),
    "--discount-rate": (("discount_rate",), "FRACTION", "discount rate per year, fraction (0-0.5; 0.1 = 10%)"),
    "--tax-rate": (("tax_rate",), "FRACTION", "corporate tax rate, fraction of taxable income (0-0.6)"),
    "--debt-share": (("debt_share",), "FRACTION", "share of each capex draw borrowed, fraction (0-0.95)"),
    "--debt-rate": (("debt_rate",), "FRACTION", "interest rate per year, fraction (0-0.5)"),
    "--phased-mw-per-year": (("phased_mw_per_year",), "MW", "phased: facility MW converted per year (0.1-10000)"),
    "--split-mining-share": (("split_mining_share",), "FRACTION",
                             "split: share of the site that keeps mining, fraction (0-1)"),
}
INTEGER_FIELDS = {"build_months", "hosting_build_months", "tokens_build_months"}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", metavar="ID", help="site profile (default: the default site)")
    p.add_argument("--market", metavar="ID", help="market snapshot (default: the newest)")
    p.add_argument("--asic", metavar="ID", help="the fleet's ASIC profile (default: the site's)")
    p.add_argument("--gpu", metavar="ID", help="the GPU profile converted to (default: the site's)")
    p.add_argument("--years", type=float, metavar="N", help="horizon, whole years (1-30; default: the site's plan)")
    p.add_argument("--strategy", action="append", choices=list(strategies.STRATEGIES), metavar="NAME",
                   help="strategy to compare (repeatable): " + ", ".join(strategies.STRATEGIES)
                   + f" (default: {', '.join(strategies.DEFAULT_STRATEGIES)}; tokens too when --basis is given)")
    p.add_argument("--basis", choices=("measured", "published"), default=None,
                   help="tokens/s per GPU for token sales: 'published' (the GPU profile's figure) or 'measured' "
                        "(this run's verified decode, scaled to the GPU; needs --run)")
    p.add_argument("--run", metavar="RUN.json",
                   help="a saved run file (python -m bench run --json), for --basis measured")
    p.add_argument("--btc-price-csv", metavar="PATH",
                   help="monthly BTC prices in USD, one per row (last column), month 1 first; replaces --btc-price")
    for flag, (_, metavar, text) in OVERRIDES.items():
        p.add_argument(flag, type=float, metavar=metavar, help=text)
    p.add_argument("--no-scenarios", action="store_true", help="skip the low/base/high scenarios and the tornado")
    p.add_argument("--json", metavar="PATH|-", help="write the plan as JSON ('-' = stdout, nothing else there)")
    p.add_argument("--csv", metavar="PATH", help="write every strategy's monthly cash flows as CSV")


def overrides(args) -> dict:
    """The numeric flags given, each checked against its plausible range; UsageError names flag and unit."""
    out = {}
    for flag, (fields, _, _) in OVERRIDES.items():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        lo, hi, unit = inputs.PLAUSIBLE[fields[0]]
        problem = inputs.implausible(value, lo, hi, unit)
        if problem:
            raise UsageError(f"{flag}: {problem}")
        for f in fields:
            out[f] = int(round(value)) if f in INTEGER_FIELDS else value
    if args.years is not None:
        problem = inputs.implausible(args.years, 1, 30, "years")
        if problem or args.years != int(args.years):
            raise UsageError(f"--years: {problem or f'must be a whole number of years (got {args.years:g})'}")
        out["years"] = int(args.years)
    if args.btc_price_csv:
        try:
            out["btc_price_monthly"] = tuple(bitcoin.read_price_csv(args.btc_price_csv))
        except OSError as exc:
            raise UsageError(f"--btc-price-csv: cannot read {args.btc_price_csv} ({exc.strerror or exc})") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"--btc-price-csv: {args.btc_price_csv}: {exc}") from None
    return out


def _measurement(args):
    if args.basis != "measured":
        if args.run:
            raise UsageError("--run: only used with --basis measured (add it, or drop --run)")
        return None
    if not args.run:
        raise UsageError("--basis measured needs --run RUN.json (a saved `python -m bench run --json` file)")
    try:
        with open(args.run, encoding="utf-8") as f:
            run = json.load(f)
    except OSError as exc:
        raise UsageError(f"--run: cannot read {args.run} ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"--run: {args.run} is not a run JSON file ({exc})") from None
    if not isinstance(run, dict):
        raise UsageError(f"--run: {args.run} is not a run JSON file (no results)")
    try:
        return measured.best_decode(run)
    except ValueError as exc:
        raise UsageError(f"--run: {args.run}: {exc}") from None


def build(args) -> plan.Plan:
    """Flags + profiles -> the plan (UsageError for anything a user must fix)."""
    given = overrides(args)
    meas = _measurement(args)
    # the plan prices no CPU: load the profiles without measuring this machine's clock (half a second)
    ps = profiles.load(profiles.profile_dirs(), host=profiles.host_cpu(ghz=0.0))
    names = args.strategy or (list(strategies.DEFAULT_STRATEGIES) + (["tokens"] if args.basis else []))
    return pricing.site_plan(ps, site=args.site, market=args.market, asic=args.asic, gpu=args.gpu, names=names,
                             overrides=given, measured=meas, basis=args.basis or "published",
                             with_scenarios=not args.no_scenarios)


def _pct(v) -> str:
    return f"{v:.1%}" if v is not None else "—"


def render(p: plan.Plan) -> list:
    items = [f"[bold]{p.verdict}[/]"]
    t = Table(title=f"Strategies on {p.site} ({p.site_mw:g} MW), {p.years} years, market {p.market}, ranked by NPV")
    for head in ("#", "strategy", "NPV", "IRR", "equity IRR", "payback", "capex", "peak funding", "EBITDA yr 1",
                 "EBITDA yr 3", "EV per MW"):
        t.add_column(head, justify="left" if head == "strategy" else "right", no_wrap=head == "strategy")
    for i, s in enumerate(p.strategies, start=1):
        t.add_row(str(i), s.label, usd(s.npv_usd), _pct(s.irr), _pct(s.equity_irr),
                  f"month {s.payback_month}" if s.payback_month else "never", usd(s.capex_usd),
                  usd(s.peak_funding_usd), usd(s.ebitda_year1_usd), usd(s.ebitda_year3_usd), usd(s.ev_per_mw_usd))
    items.append(t)
    best = p.strategies[0]
    y = Table(title=f"{best.label}, year by year")
    for head in ("year", "revenue", "power", "opex", "EBITDA", "capex", "financing", "tax", "net"):
        y.add_column(head, justify="right")
    for row in best.yearly:
        y.add_row(str(row["year"]), *(usd(row[k]) for k in ("revenue_usd", "power_usd", "opex_usd", "ebitda_usd",
                                                            "capex_usd", "financing_usd", "tax_usd", "net_usd")))
    items.append(y)
    be = p.break_evens
    if be.get("values"):
        parts = [f"{plan.BREAK_EVENS[a][0]} {_be(a, v)} (now {_be(a, be['now'][a])})"
                 for a, v in be["values"].items() if v is not None]
        items.append(f"break-evens ({' vs '.join(be['between'])} swap): " + ("; ".join(parts) or "none in range"))
    if p.scenarios:
        items.append("scenarios (NPV low / base / high, every range at the end that hurts / helps each): "
                     + "; ".join(f"{n} {usd(v['low_usd'])} / {usd(v['base_usd'])} / {usd(v['high_usd'])}"
                                 for n, v in p.scenarios.items()))
    if p.tornado:
        items.append(f"tornado (NPV of {best.name}, input at its low / high end): "
                     + "; ".join(f"{r['label']} {usd(r['npv_low_usd'][best.name])} / "
                                 f"{usd(r['npv_high_usd'][best.name])}" for r in p.tornado[:6]))
    items.append(f"basis: {p.basis} — {p.basis_detail}")
    if p.seed:
        items.append(f"[bold]seed case[/] ({p.seed.get('company')}):")
        items.extend(f"- {n}" for n in p.seed["notes"])
    items.extend(f"- {a}" for a in p.assumptions)
    items.extend(f"- {s.name}: {n}" for s in p.strategies for n in s.notes)
    return items


def _be(attr: str, v: float) -> str:
    if attr == "build_months":
        return f"{v:.0f} months"
    return f"${v:,.0f}" if v >= 1000 else f"${v:,.2f}"


def to_csv(p: plan.Plan) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["strategy", *cashflow.COLUMNS])
    for s in p.strategies:
        for row in s.cash_flows:
            w.writerow([s.name, *(f"{v:.2f}" if isinstance(v, float) else v for v in row.values())])
    return buf.getvalue()


def main(args) -> int:
    if args.csv == "-" and args.json == "-":
        raise UsageError("--csv: stdout already carries the JSON; give --csv a file path")
    check_destination(args.json, "file", "--json")
    check_destination(args.csv, "file", "--csv")
    p = build(args)
    if args.json:
        data = p.to_dict()
        check_finite(data, "plan")
        write_output("--json", args.json, dumps(data))
    if args.csv:
        write_output("--csv", args.csv, to_csv(p))
    if args.json == "-" or args.csv == "-":
        return 0
    out = console.out()
    for item in render(p):
        out.print(item)
    return 0
