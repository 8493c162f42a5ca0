"""The report as Markdown (report.md): the verdict first, a table of contents, the summaries, then the
detail sections; every data string escaped, plots as PNG links.

Escaping: `&`, `<`, `>` become HTML entities (so a profile named `<script>` renders as text, never as
a tag), and the characters that make emphasis, code, links or table cells are backslash-escaped.
"""

from __future__ import annotations

import html
import re

from bench.report.model import Report, Section, Table

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md(text) -> str:
    """Any string as literal Markdown text on one line."""
    text = html.escape(str(text), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


def table(t: Table, level: str = "###") -> str:
    lines = [f"{level} {md(t.title)}", ""]
    lines.append("| " + " | ".join(md(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    for cells, mark in zip(t.rows, t.marks):
        row = [md(c) for c in cells]
        if mark in ("bad", "best") and row:
            row[0] = f"**{row[0]}**"
        lines.append("| " + " | ".join(row) + " |")
    for note in t.notes:
        lines.append("")
        lines.append(f"*{md(note)}*")
    return "\n".join(lines)


def section(s: Section) -> list[str]:
    parts = ["", f"## {md(s.title)}" + (" (detail)" if s.detail else "")]
    parts += [f"\n{md(line)}" for line in s.lines]
    parts += [f"\n> **{md(w)}**" for w in s.warnings]
    parts += ["\n" + table(t) for t in s.tables]
    return parts


def render(report: Report, plots: dict[str, str] | None = None) -> str:
    """`plots`: caption -> file name of a PNG next to report.md."""
    v = report.verdict
    parts = [f"# {md(report.title)}", ""]
    parts += [f"- **{md(label)}**: {md(value)}" for label, value in report.headline]
    parts += ["", f"## {md(v.title)}", "", f"**{md(v.sentence)}**"]
    parts += [f"\n> **{md(a)}**" for a in v.alerts]
    parts += ["\n" + table(t) for t in v.tables]
    if v.flips:
        parts += ["", "What would change the answer:", ""] + [f"- {md(f)}" for f in v.flips]
    parts += ["", *(f"*{md(p)}*  " for p in v.provenance)]
    short = [s for s in report.sections if not s.detail]
    detail = [s for s in report.sections if s.detail]
    titles = [s.title for s in short] + (["Plots"] if plots else []) + [s.title for s in detail]
    parts += ["", "Contents: " + " · ".join(md(t) for t in titles)]
    for s in short:
        parts += section(s)
    if plots:
        parts += ["", "## Plots"]
        for caption, name in plots.items():
            parts += ["", f"![{md(caption)}]({name})"]
    for s in detail:
        parts += section(s)
    return "\n".join(parts) + "\n"
