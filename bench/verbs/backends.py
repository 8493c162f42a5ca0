"""`bench backends`: every backend, the workloads it runs, its devices, or why it cannot run."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from bench import backends, console
from bench.files import check_destination, emit_json

HELP = "list backends, their devices, and why a backend cannot run"
EPILOG = """examples:
  python -m bench backends
  python -m bench backends --json -"""


def add_arguments(p) -> None:
    p.add_argument("--json", metavar="PATH|-", help="write the list as JSON to PATH ('-' = stdout)")


def main(args) -> int:
    check_destination(args.json, "file", "--json")
    statuses = backends.discover()
    if args.json:
        emit_json({"backends": [s.to_dict() for s in statuses]}, args.json, flag="--json")
        if args.json == "-":
            return 0
    table = Table(title="Backends on this machine", show_lines=True)
    for col in ("backend", "workloads", "devices", "status"):
        table.add_column(col, overflow="fold")
    for name in backends.BACKENDS:
        rows = [s for s in statuses if s.backend == name]
        runs = [s.workload for s in rows if s.available]
        devices = next((s.devices for s in rows if s.available), [])
        unusable = next((s.unusable for s in rows if s.unusable), [])
        device_lines = escape("\n".join(
            [_describe(name, d) for d in devices] + [_describe(name, d) + " — cannot run" for d, _ in unusable]
        ))
        reasons = sorted({s.reason for s in rows if not s.available and s.has_kernel})
        if any(s.available for s in rows):
            reasons += [f"{name}:{d.index}: {why}" for d, why in unusable]
        missing = [s.workload for s in rows if not s.has_kernel]
        status = "[green]ready[/]" if runs else "[red]unavailable[/]"
        if reasons:
            status += "\n" + escape("\n".join(reasons))
        if runs and missing:
            status += f"\nno {', '.join(missing)} kernel"
        table.add_row(name, ", ".join(runs) or "—", device_lines or "—", status)
    console.out(args.json == "-").print(table)
    return 0


def _describe(name: str, d) -> str:
    return (f"{name}:{d.index} {d.name} ({d.kind}, {console.bytes_h(d.memory_bytes)}"
            + (f", {d.compute}" if d.compute else "")
            + (f", {d.units} units" if d.units else "")
            + ")")
