"""What a report says, independent of how it is drawn: a title, summary lines, warnings and plain-text tables.

The terminal (rich), Markdown and HTML renderers all draw these same objects, so the three never disagree.
Cells are plain strings straight from the data (profile names, device names...): each renderer escapes them
for its own format, nothing here is markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)  # per row: "" | "ref" (a reference) | "bad" (failed)
    notes: list[str] = field(default_factory=list)
    wide: tuple[str, ...] = ()  # detail columns the terminal leaves out (the files keep them)

    def add(self, cells: list, mark: str = "") -> None:
        self.rows.append(["" if c is None else str(c) for c in cells])
        self.marks.append(mark)


@dataclass
class Report:
    title: str
    summary: list[tuple[str, str]]  # (label, value) lines about the run
    tables: list[Table]
    warnings: list[str]  # incomplete run, failed verification, missing workloads...
