"""Reports of a run file: the terminal view, and the files run.json, report.md, report.html, *.png.

Everything is drawn from the run file alone (bench.report.build makes the report; the terminal, markdown,
html and plots modules draw it), so `bench report RUN.json` re-renders a saved run exactly. Every file is
written atomically (bench.files.write_atomic).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bench.files import dumps, write_atomic
from bench.report import build, html, markdown, plots, terminal
from bench.results import check_document

RUN_FILE = "run.json"


def render(doc: dict, console: Console) -> None:
    """The terminal report."""
    terminal.render(build.build(doc), console)


def write_all(doc: dict, folder: str | Path) -> Path:
    """run.json, report.md, report.html (plots embedded) and the PNG plots, in `folder`."""
    folder = Path(folder)
    write_atomic(folder / RUN_FILE, dumps(doc))  # first: whatever fails in drawing, the run itself is kept
    report = build.build(doc)
    pictures = plots.all_plots(doc.get("economics"), check_document(doc))
    for name, (_, png) in pictures.items():
        write_atomic(folder / name, png)
    write_atomic(folder / "report.md", markdown.render(report, {c: n for n, (c, _) in pictures.items()}))
    write_atomic(folder / "report.html", html.render(report, {c: png for c, png in pictures.values()}))
    return folder


def write_partial(doc: dict, folder: str | Path, json_path: str | None = None) -> Path:
    """After Ctrl-C: run.json and report.md only (fast; no plots), plus --json PATH when given."""
    folder = Path(folder)
    write_atomic(folder / RUN_FILE, dumps(doc))
    write_atomic(folder / "report.md", markdown.render(build.build(doc)))
    if json_path and json_path != "-":
        write_atomic(json_path, dumps(doc))
    return folder
