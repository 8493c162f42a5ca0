"""After measuring: the site view of the verified results only, and where the report goes."""

from __future__ import annotations

from pathlib import Path

from bench import pricing
from bench.errors import UsageError
from bench.results import Result, run_document
from bench.runner.options import Options


def economics_of(results: list[Result], options: Options) -> tuple[dict | None, str | None]:
    """The site view from the verified results only, or (None, why not)."""

    verified = [r for r in results if r.verified]
    return pricing.economics(verified, profiles=options.profiles, site=options.site, market=options.market), None


def out_dir(options: Options, run: dict) -> Path:
    if options.out:
        return Path(options.out)
    return Path("reports") / run["folder"]


def priced(meta: dict, results: list[Result], options: Options) -> dict:
    """The run document with the site view of its verified results; a pricing error never loses them."""
    try:
        economics, why_not = economics_of(results, options)
    except UsageError as exc:
        economics, why_not = None, str(exc)
    if why_not:
        meta["economics_missing"] = why_not
    doc = run_document(meta, results, complete=True, economics=economics)
    try:
        doc["plan"] = pricing.run_plan([r for r in results if r.verified], site=options.site, market=options.market)
    except UsageError as exc:
        meta["plan_missing"] = str(exc)
    return doc


def check_site_inputs(options: Options) -> dict | None:
    """Unknown profile/site/market ids fail before anything is measured (exit 2)."""

    return pricing.check_inputs(profiles=options.profiles, site=options.site, market=options.market)
