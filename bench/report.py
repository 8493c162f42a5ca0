"""Reports of a run file: the terminal view, and the files run.json, report.md, report.html, *.png.

Everything is drawn from the run file alone (bench.report_data builds the tables; report_terminal,
report_markdown, report_html and report_plots draw them), so `bench report RUN.json` re-renders a
saved run exactly. Every file is written atomically (bench.files.write_atomic).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bench import console as consoles
from bench import report_data, report_html, report_markdown, report_plots, report_terminal
from bench.files import dumps, write_atomic
from bench.results import check_document, load_run

RUN_FILE = "run.json"


def render(doc: dict, console: Console) -> None:
    """The terminal report."""
    report_terminal.render(report_data.build(doc), console)


def write_all(doc: dict, folder: str | Path) -> Path:
    """run.json, report.md, report.html (plots embedded) and the PNG plots, in `folder`."""
    folder = Path(folder)
    report = report_data.build(doc)
    plots = report_plots.all_plots(doc.get("economics"), check_document(doc))
    write_atomic(folder / RUN_FILE, dumps(doc))
    for name, (_, png) in plots.items():
        write_atomic(folder / name, png)
    write_atomic(folder / "report.md", report_markdown.render(report, {c: n for n, (c, _) in plots.items()}))
    write_atomic(folder / "report.html", report_html.render(report, {c: png for c, png in plots.values()}))
    return folder


def write_partial(doc: dict, folder: str | Path, json_path: str | None = None) -> Path:
    """After Ctrl-C: run.json and report.md only (fast; no plots), plus --json PATH when given."""
    folder = Path(folder)
    write_atomic(folder / RUN_FILE, dumps(doc))
    write_atomic(folder / "report.md", report_markdown.render(report_data.build(doc)))
    if json_path and json_path != "-":
        write_atomic(json_path, dumps(doc))
    return folder


def show(args) -> int:
    """`bench report RUN.json [--out DIR]`: print the saved run; with --out, write its files there too."""
    doc = load_run(args.run_json)
    render(doc, consoles.out())
    if args.out:
        folder = write_all(doc, args.out)
        consoles.err().print(f"report written to {folder}", markup=False)
    return 0
