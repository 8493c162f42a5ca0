"""What a report says, independent of how it is drawn: the verdict, then sections of tables and lines.

The terminal (rich), Markdown and HTML renderers all draw these same objects, so the three never disagree.
Cells are plain strings straight from the data (profile names, device names...): each renderer escapes them
for its own format, nothing here is markup.

Order is the reader's: the verdict (the money answer, per MW and for the whole site) first, then the
engineer's summary, then the detail sections (`detail=True`: collapsed in HTML, behind `report --full` in
the terminal).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)  # per row: "" | "ref" (a reference) | "bad" (failed) | "best"
    notes: list[str] = field(default_factory=list)
    wide: tuple[str, ...] = ()  # detail columns the terminal leaves out (the files keep them)

    def add(self, cells: list, mark: str = "") -> None:
        self.rows.append(["" if c is None else str(c) for c in cells])
        self.marks.append(mark)


@dataclass
class Section:
    title: str
    anchor: str  # the HTML id and the table of contents' link
    tables: list[Table] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # sentences shown above the tables
    warnings: list[str] = field(default_factory=list)
    detail: bool = False  # True: collapsed in HTML (<details>), only under `report --full` in the terminal


@dataclass
class Verdict:
    title: str  # "Verdict: keep mining or convert?" or the labelled site-view fallback
    sentence: str  # one plain sentence: the answer
    tables: list[Table]  # the ranked strategies (or uses), per MW and for the whole site
    flips: list[str]  # the inputs that would change the answer, with today's value
    provenance: list[str]  # which figures were measured here (and how they entered) vs taken from profiles
    alerts: list[str] = field(default_factory=list)  # what makes the answer less sure (incomplete run...)
    fallback: bool = False  # True when the run has no `plan` and this is the site view


@dataclass
class Report:
    title: str
    headline: list[tuple[str, str]]  # two or three (label, value) lines about the machine, shown first
    verdict: Verdict
    sections: list[Section]
    summary: list[tuple[str, str]] = field(default_factory=list)  # every metadata line (in a detail section)

    @property
    def tables(self) -> list[Table]:
        """Every table of the report, verdict first (for tests and exports)."""
        return [*self.verdict.tables, *(t for s in self.sections for t in s.tables)]

    @property
    def warnings(self) -> list[str]:
        return [*self.verdict.alerts, *(w for s in self.sections for w in s.warnings)]
