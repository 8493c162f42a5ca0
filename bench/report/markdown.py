"""The report as Markdown (report.md): the same tables, every data string escaped, plots as PNG links.

Escaping: `&`, `<`, `>` become HTML entities (so a profile named `<script>` renders as text, never as
a tag), and the characters that make emphasis, code, links or table cells are backslash-escaped.
"""

from __future__ import annotations

import html
import re

from bench.report.model import Report, Table

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text) -> str:
    """Any string as literal Markdown text on one line."""
    text = html.escape(str(text), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


def table(t: Table) -> str:
    lines = [f"### {md(t.title)}", ""]
    lines.append("| " + " | ".join(md(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    for cells, mark in zip(t.rows, t.marks):
        row = [md(c) for c in cells]
        if mark == "bad" and row:
            row[0] = f"**{row[0]}**"
        lines.append("| " + " | ".join(row) + " |")
    for note in t.notes:
        lines.append("")
        lines.append(f"*{md(note)}*")
    return "\n".join(lines)


def render(report: Report, plots: dict[str, str] | None = None) -> str:
    """`plots`: caption -> file name of a PNG next to report.md."""
    parts = [f"# {md(report.title)}", ""]
    parts += [f"- **{md(label)}**: {md(value)}" for label, value in report.summary]
    if report.warnings:
        parts.append("")
        parts += [f"> **{md(w)}**" + "  " for w in report.warnings]
    for t in report.tables:
        parts += ["", table(t)]
    if plots:
        parts += ["", "## Plots"]
        for caption, name in plots.items():
            parts += ["", f"![{md(caption)}]({name})"]
    return "\n".join(parts) + "\n"
