"""Reports of a run file: the terminal view, and the files run.json, report.md, report.html, *.png, *.csv.

Everything is drawn from the run file alone (bench.report.build makes the report; the terminal, markdown,
html and plots modules draw it), so `bench report RUN.json` re-renders a saved run exactly. Every file is
written atomically (bench.files.write_atomic).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bench.files import dumps, write_atomic
from bench.report import build, html, markdown, plots, tables_csv, terminal
from bench.results import RUN_FILE, check_document


def render(doc: dict, console: Console, *, full: bool = False, source: str | None = None) -> None:
    """The terminal report: the verdict and the summaries; with `full`, every detail table too."""
    terminal.render(build.build(doc), console, full=full, source=source)


def write_all(doc: dict, folder: str | Path) -> Path:
    """run.json, report.md, report.html (plots embedded), the PNG plots, results.csv and site.csv, in `folder`."""
    folder = Path(folder)
    write_atomic(folder / RUN_FILE, dumps(doc))  # first: whatever fails in drawing, the run itself is kept
    report = build.build(doc)
    pictures = plots.all_plots(doc.get("economics"), check_document(doc), doc.get("plan"))
    for name, (_, png) in pictures.items():
        write_atomic(folder / name, png)
    write_atomic(folder / "report.md", markdown.render(report, {c: n for n, (c, _) in pictures.items()}))
    write_atomic(folder / "report.html", html.render(report, {c: png for c, png in pictures.values()}))
    write_atomic(folder / "results.csv", tables_csv.results_csv(doc))
    if doc.get("economics"):
        write_atomic(folder / "site.csv", tables_csv.site_csv(doc))
    return folder


def write_partial(doc: dict, folder: str | Path, json_path: str | None = None) -> Path:
    """After Ctrl-C: run.json and report.md only (fast; no plots), plus --json PATH when given."""
    folder = Path(folder)
    write_atomic(folder / RUN_FILE, dumps(doc))
    write_atomic(folder / "report.md", markdown.render(build.build(doc)))
    if json_path and json_path != "-":
        write_atomic(json_path, dumps(doc))
    return folder
