"""Reports: the model (model.py), built from a run file (build.py: verdict.py the answer first, engineer.py the
per-backend summary, site.py the site tables), drawn by one renderer per format (terminal.py, markdown.py,
html.py, plots.py), exported for spreadsheets (tables_csv.py) and written to a folder (write.py)."""

from bench.report.write import RUN_FILE, render, write_all, write_partial

__all__ = ["RUN_FILE", "render", "write_all", "write_partial"]
