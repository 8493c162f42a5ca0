"""Rich consoles for the CLI: tables to stdout, progress and messages to stderr.

Rich already honours NO_COLOR and drops colour and live updates when the stream is not a terminal.
When `--json -` owns stdout, everything human-readable goes to stderr. Every string that came from a user
(a profile name, a path, a device name) is passed through `text()` first: rich reads `[...]` as markup, so
`[/bold]` in a name would crash the table and `[hydro]` would vanish from it.
"""

from __future__ import annotations

import math
import os
import sys

from rich.console import Console
from rich.markup import escape


def text(value) -> str:
    """`value` as a string rich prints literally (markup escaped)."""
    return escape(str(value))


def stdout_gone() -> None:
    """The reader of stdout left (`| head`): point stdout at /dev/null so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout closed or not a real file: nothing left to flush
        pass


class _Console(Console):
    """A closed pipe is a BrokenPipeError for the CLI to answer (exit 0 once all is saved), not rich's exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        stdout_gone()
        raise BrokenPipeError


def _tolerant(stream):
    """PYTHONIOENCODING=ascii (or a C locale): characters the stream cannot encode become '?', not a crash."""
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        try:
            stream.reconfigure(errors="replace")
        except (ValueError, OSError):
            pass
    return stream


def out(json_to_stdout: bool = False) -> Console:
    """Where tables go: stdout, or stderr when stdout carries JSON."""
    return _Console(file=_tolerant(sys.stderr if json_to_stdout else sys.stdout), highlight=False)


def err() -> Console:
    return _Console(file=_tolerant(sys.stderr), highlight=False)


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


def usd(value) -> str:
    """12345678 -> '$12.3M' (3 significant digits); None, NaN or inf -> '—'."""
    if value is None or not math.isfinite(value):
        return "—"
    sign = "-" if value < 0 else ""
    v = float(f"{abs(value):.3g}")  # round first: 999,600 is $1.00M, not $1000k
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            x = v / scale
            return f"{sign}${x:.{2 if x < 10 else 1 if x < 100 else 0}f}{suffix}"  # 3 significant digits
    return f"{sign}${v:.0f}"
