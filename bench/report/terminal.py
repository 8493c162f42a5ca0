"""The report in the terminal: the verdict box first, then the engineer's summary; detail under --full.

Data strings go in as `Text`, never as markup. The default view is meant to fit a screen or two at 120
columns, where its short tables fit without wrapping a cell; on a narrower terminal rich folds the cells
that no longer fit (nothing is cut off). The detail tables of --full are the wide ones. Rich honours NO_COLOR and a non-terminal
stream by itself (no colour codes, no live updates).
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from bench.report.model import Report, Section, Table, Verdict

ROW_STYLES = {"": None, "ref": "italic", "bad": "bold red", "best": "bold green"}
SHORT_CELL = 12  # characters: a column of cells this short is never wrapped


def table(t: Table, *, compact: bool = True) -> RichTable:
    out = RichTable(title=Text(t.title, style="bold"), title_justify="left", show_lines=False, expand=False,
                    box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact,
                    padding=(0, 1, 0, 0) if compact else (0, 1))
    keep = [i for i, col in enumerate(t.columns) if col not in t.wide]
    for i in keep:
        longest = max((len(cells[i]) for cells in t.rows), default=0)
        # short figures and names never break (rich folds the long text columns first when space runs out)
        out.add_column(Text(t.columns[i]), overflow="fold",
                       min_width=longest if compact and longest <= SHORT_CELL else None)
    for cells, mark in zip(t.rows, t.marks):
        out.add_row(*(Text(cells[i]) for i in keep), style=ROW_STYLES.get(mark))
    return out


def notes(t: Table) -> list[RenderableType]:
    """A table's notes below it, wrapped at the screen's width (a caption would wrap at the table's)."""
    return [Text(n, style="dim") for n in t.notes]


def pairs(lines: list[tuple[str, str]]) -> RichTable:
    grid = RichTable.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in lines:
        grid.add_row(Text(label), Text(value))
    return grid


def verdict_box(v: Verdict) -> Panel:
    parts: list[RenderableType] = [Text(v.sentence, style="bold")]
    for alert in v.alerts:
        parts.append(Text("! " + alert, style="bold red"))
    for t in v.tables:
        parts.extend([table(t), *notes(t)])
    if v.flips:
        parts.append(Text("What would change the answer:", style="bold"))
        parts.extend(Text("  • " + f) for f in v.flips)
    parts.extend(Text(line, style="dim") for line in v.provenance)
    return Panel(Group(*parts), title=Text(v.title, style="bold"), title_align="left",
                 border_style="yellow" if v.fallback else "green")


def section(s: Section, *, compact: bool) -> list[RenderableType]:
    out: list[RenderableType] = [Text(s.title, style="bold underline")]
    out.extend(Text(line) for line in s.lines)
    out.extend(Text("! " + w, style="bold yellow") for w in s.warnings)
    for t in s.tables:
        out.extend([table(t, compact=compact), *notes(t)])
    return out


def renderable(report: Report, *, full: bool = False, source: str | None = None) -> RenderableType:
    parts: list[RenderableType] = [Text(report.title, style="bold underline"), pairs(report.headline),
                                   verdict_box(report.verdict)]
    hidden = [s for s in report.sections if s.detail]
    for s in report.sections:
        if not s.detail:
            parts.extend(section(s, compact=True))
    if full:
        for s in hidden:
            parts.extend(section(s, compact=False))
    elif hidden:
        where = f"python -m bench report {source} --full" if source else "report --full"
        parts.append(Text(f"Detail ({', '.join(s.title.split(':')[0] for s in hidden)}): {where}; "
                          "report.html has every table", style="dim"))
    return Group(*parts)


def render(report: Report, console: Console, *, full: bool = False, source: str | None = None) -> None:
    console.print(renderable(report, full=full, source=source))
