"""Rich consoles for the CLI: tables to stdout, progress and messages to stderr.

Rich already honours NO_COLOR and drops colour and live updates when the stream is not a terminal.
When `--json -` owns stdout, everything human-readable goes to stderr.
"""

from __future__ import annotations

import sys

from rich.console import Console


def out(json_to_stdout: bool = False) -> Console:
    """Where tables go: stdout, or stderr when stdout carries JSON."""
    return Console(file=sys.stderr if json_to_stdout else sys.stdout, highlight=False)


def err() -> Console:
    return Console(file=sys.stderr, highlight=False)


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """1.234e9, 'H/s' -> '1.23 GH/s'."""
    if value is None:
        return "—"
    prefixes = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def bytes_h(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
