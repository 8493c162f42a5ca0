"""The report in the terminal: rich tables. Data strings go in as `Text`, never as markup.

Rich honours NO_COLOR and a non-terminal stream by itself (no colour codes, no live updates).
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from bench.report.model import Report, Table

ROW_STYLES = {"": None, "ref": "italic", "bad": "bold red"}


def table(t: Table) -> RichTable:
    out = RichTable(title=Text(t.title, style="bold"), title_justify="left", show_lines=False, expand=False)
    keep = [i for i, col in enumerate(t.columns) if col not in t.wide]
    for i in keep:
        out.add_column(Text(t.columns[i]), overflow="fold")
    for cells, mark in zip(t.rows, t.marks):
        out.add_row(*(Text(cells[i]) for i in keep), style=ROW_STYLES.get(mark))
    if t.notes:
        out.caption = Text("\n".join(t.notes), style="dim")
        out.caption_justify = "left"
    return out


def summary(report: Report) -> RichTable:
    grid = RichTable.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in report.summary:
        grid.add_row(Text(label), Text(value))
    return grid


def renderable(report: Report) -> RenderableType:
    parts: list[RenderableType] = [Text(report.title, style="bold underline"), summary(report), Text("")]
    for w in report.warnings:
        parts.append(Text("! " + w, style="bold yellow"))
    if report.warnings:
        parts.append(Text(""))
    for t in report.tables:
        parts.extend([table(t), Text("")])
    return Group(*parts)


def render(report: Report, console: Console) -> None:
    console.print(renderable(report))
