"""The report as one self-contained HTML file: inline CSS, plots embedded as data: URIs, no scripts.

Every string from the data goes through `html.escape`; nothing from a profile, a run file or the
machine can become a tag or an attribute. The page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
from html import escape

from bench.report.model import Report, Table

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.ref td { font-style: italic; background: #f8f8ff; }
tr.bad td { color: #a00; font-weight: bold; }
p.note { color: #666; font-size: 0.85em; margin: 0.1em 0; }
p.warning { color: #8a5a00; font-weight: bold; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; }
dt { font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""


def table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    rows = []
    for cells, mark in zip(t.rows, t.marks):
        cls = f' class="{mark}"' if mark in ("ref", "bad") else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in t.notes)
    return (f"<h3>{escape(t.title)}</h3>\n<table><thead><tr>{head}</tr></thead>\n<tbody>"
            + "\n".join(rows) + f"</tbody></table>\n{notes}")


def image(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def render(report: Report, plots: dict[str, bytes] | None = None) -> str:
    """`plots`: caption -> PNG bytes, embedded in the page."""
    summary = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.summary)
    warnings = "".join(f'<p class="warning">{escape(w)}</p>' for w in report.warnings)
    tables = "\n".join(table(t) for t in report.tables)
    figures = "\n".join(image(c, png) for c, png in (plots or {}).items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(report.title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{escape(report.title)}</h1>
<dl>{summary}</dl>
{warnings}
{tables}
{"<h2>Plots</h2>" + figures if figures else ""}
</body>
</html>
"""
