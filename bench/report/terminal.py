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
SHORT_CELL = 12  # characters: a column of cells this short keeps its width where the screen allows
MIN_TEXT_WIDTH = 8  # characters left to each long text column when the short ones keep theirs


def short_widths(t: Table, keep: list[int], width: int | None) -> dict[int, int]:
    """Minimum widths that keep short columns (figures, names) whole while the long text columns fold, where
    the screen has room for that; none where it has not (then rich folds every column, nothing is cut)."""
    longest = {i: max([len(cells[i]) for cells in t.rows] + [1]) for i in keep}
    short = {i: n for i, n in longest.items() if n <= SHORT_CELL}
    if width is None:
        return short
    needed = sum(n + 2 for n in short.values()) + MIN_TEXT_WIDTH * (len(keep) - len(short)) + 4
    return short if needed <= width else {}


def table(t: Table, *, compact: bool = True, width: int | None = None) -> RichTable:
    out = RichTable(title=Text(t.title, style="bold"), title_justify="left", show_lines=False, expand=False,
                    box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact,
                    padding=(0, 1, 0, 0) if compact else (0, 1))
    keep = [i for i, col in enumerate(t.columns) if col not in t.wide]
    minimum = short_widths(t, keep, width) if compact else {}
    for i in keep:
        out.add_column(Text(t.columns[i]), overflow="fold", min_width=minimum.get(i))
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


def verdict_box(v: Verdict, width: int | None = None) -> Panel:
    parts: list[RenderableType] = [Text(v.sentence, style="bold")]
    for alert in v.alerts:
        parts.append(Text("! " + alert, style="bold red"))
    for t in v.tables:
        parts.extend([table(t, width=None if width is None else width - 4), *notes(t)])  # inside the box
    if v.flips:
        parts.append(Text("What would change the answer:", style="bold"))
        parts.extend(Text("  • " + f) for f in v.flips)
    parts.extend(Text(line, style="dim") for line in v.provenance)
    return Panel(Group(*parts), title=Text(v.title, style="bold"), title_align="left",
                 border_style="yellow" if v.fallback else "green")


def section(s: Section, *, compact: bool, width: int | None = None) -> list[RenderableType]:
    out: list[RenderableType] = [Text(s.title, style="bold underline")]
    out.extend(Text(line) for line in s.lines)
    out.extend(Text("! " + w, style="bold yellow") for w in s.warnings)
    for t in s.tables:
        out.extend([table(t, compact=compact, width=width), *notes(t)])
    return out


def renderable(report: Report, *, full: bool = False, source: str | None = None,
               width: int | None = None) -> RenderableType:
    parts: list[RenderableType] = [Text(report.title, style="bold underline"), pairs(report.headline),
                                   verdict_box(report.verdict, width)]
    hidden = [s for s in report.sections if s.detail]
    for s in report.sections:
        if not s.detail:
            parts.extend(section(s, compact=True, width=width))
    if full:
        for s in hidden:
            parts.extend(section(s, compact=False))
    elif hidden:
        where = f"python -m bench report {source} --full" if source else "report --full"
        parts.append(Text(f"Detail ({', '.join(s.title.split(':')[0] for s in hidden)}): {where}; "
                          "report.html has every table", style="dim"))
    return Group(*parts)


def render(report: Report, console: Console, *, full: bool = False, source: str | None = None) -> None:
    console.print(renderable(report, full=full, source=source, width=console.width))
