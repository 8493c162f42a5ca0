"""`bench profiles`: every hardware, site and market profile found, with its key figures and file."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bench import console, profiles
from bench.files import check_destination, emit_json

HELP = "list the hardware, site and market profiles"
EPILOG = """examples:
  python -m bench profiles
  SITEBENCH_PROFILES=~/my-profiles python -m bench profiles --json -"""


def add_arguments(p) -> None:
    p.add_argument("--json", metavar="PATH|-", help="write the list as JSON to PATH ('-' = stdout)")
    p.add_argument("--clock", action="store_true",
                   help="time this CPU's clock (about a second) to derive the host profile's peak GFLOP/s")


def _record(p) -> dict:
    return {**p.model_dump(mode="json"), "file": p.path or "(detected here)", "summary": p.summary()}


def main(args) -> int:
    check_destination(args.json, "file", "--json")
    ps = profiles.profiles() if args.clock else profiles.load(measure_clock=False)
    items = ps.all()
    if args.json:
        emit_json({"folders": [str(d) for d in profiles.profile_dirs()], "profiles": [_record(p) for p in items]},
                  args.json, flag="--json")
        if args.json == "-":
            return 0
    table = Table(title="Hardware, site and market profiles", show_lines=False)
    for col in ("kind", "id", "name", "key figures", "sources", "file"):
        table.add_column(col, overflow="fold")
    for p in items:
        estimates = sum(s.startswith(("estimate", "derived")) for s in p.sources)
        sources = f"{len(p.sources)}" + (f" ({estimates} estimate)" if estimates else "")
        table.add_row(*(Text(str(cell)) for cell in (p.kind, p.id, p.name, p.summary(), sources,
                                                     p.path or "(detected here)")))
    out = console.out(args.json == "-")
    out.print(table)
    out.print(f"default site: {ps.default_site().id}; newest market: {ps.latest_market().id}; "
              f"add your own under {profiles.ENV_VAR}=DIR (same sub-folders)", markup=False)
    return 0
