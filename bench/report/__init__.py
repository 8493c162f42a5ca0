"""Reports: the model (model.py), built from a run file (build.py, site.py), drawn by one renderer per format
(terminal.py, markdown.py, html.py, plots.py) and written to a folder (write.py)."""

from bench.report.write import RUN_FILE, render, write_all, write_partial

__all__ = ["RUN_FILE", "render", "write_all", "write_partial"]
