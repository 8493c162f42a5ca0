"""The report as one self-contained HTML file: inline CSS, plots embedded as data: URIs, no scripts.

The verdict box comes first (it fits the first screen at 1400x900), then a table of contents, the
engineer's summary and the plots; the detail sections are collapsed `<details>` elements. Every string
from the data goes through `html.escape`; nothing from a profile, a run file or the machine can become a
tag or an attribute. The page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
from html import escape

from bench.report.model import Report, Section, Table, Verdict

CSS = """
body { font-family: system-ui, sans-serif; margin: 1em auto; max-width: 84em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin: 0.2em 0; }
p.machine { color: #555; margin: 0.1em 0 0.6em; font-size: 0.9em; }
section.verdict { border: 2px solid #2a7d2a; border-radius: 6px; padding: 0.4em 1em 0.6em; background: #f6fbf6; }
section.verdict.fallback { border-color: #b08400; background: #fffbef; }
section.verdict h2 { margin: 0.2em 0; font-size: 1.2em; }
p.answer { font-size: 1.15em; font-weight: bold; margin: 0.3em 0; }
table { border-collapse: collapse; margin: 0.4em 0 0.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.55em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.ref td { font-style: italic; background: #f8f8ff; }
tr.bad td { color: #a00; font-weight: bold; }
tr.best td { font-weight: bold; background: #e8f5e8; }
p.note, li.note { color: #666; font-size: 0.82em; margin: 0.1em 0; }
ul.flips { margin: 0.2em 0; }
p.warning { color: #8a5a00; font-weight: bold; }
p.alert { color: #a00; font-weight: bold; }
nav.toc { margin: 0.8em 0; font-size: 0.9em; }
nav.toc a { margin-right: 1em; }
details { margin: 0.6em 0; border-top: 1px solid #ddd; padding-top: 0.3em; }
details > summary { cursor: pointer; font-size: 1.1em; font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
figure { margin: 0.5em 0; }
"""


def table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    rows = []
    for cells, mark in zip(t.rows, t.marks):
        cls = f' class="{mark}"' if mark in ("ref", "bad", "best") else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in t.notes)
    return (f"<h3>{escape(t.title)}</h3>\n<table><thead><tr>{head}</tr></thead>\n<tbody>"
            + "\n".join(rows) + f"</tbody></table>\n{notes}")


def image(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def verdict(v: Verdict) -> str:
    alerts = "".join(f'<p class="alert">{escape(a)}</p>' for a in v.alerts)
    flips = ("<p>What would change the answer:</p><ul class=\"flips\">"
             + "".join(f"<li>{escape(f)}</li>" for f in v.flips) + "</ul>") if v.flips else ""
    provenance = "".join(f'<p class="note">{escape(p)}</p>' for p in v.provenance)
    cls = "verdict fallback" if v.fallback else "verdict"
    return (f'<section id="verdict" class="{cls}"><h2>{escape(v.title)}</h2>'
            f'<p class="answer">{escape(v.sentence)}</p>{alerts}'
            + "\n".join(table(t) for t in v.tables) + f"{flips}{provenance}</section>")


def section(s: Section) -> str:
    body = ("".join(f"<p>{escape(line)}</p>" for line in s.lines)
            + "".join(f'<p class="warning">{escape(w)}</p>' for w in s.warnings)
            + "\n".join(table(t) for t in s.tables))
    if s.detail:
        return f'<details id="{escape(s.anchor)}"><summary>{escape(s.title)}</summary>\n{body}</details>'
    return f'<section id="{escape(s.anchor)}"><h2>{escape(s.title)}</h2>\n{body}</section>'


def render(report: Report, plots: dict[str, bytes] | None = None) -> str:
    """`plots`: caption -> PNG bytes, embedded in the page."""
    machine = " · ".join(f"{escape(k)}: {escape(v)}" for k, v in report.headline)
    short = [s for s in report.sections if not s.detail]
    detail = [s for s in report.sections if s.detail]
    links = [(s.anchor, s.title) for s in short] + ([("plots", "Plots")] if plots else []) + [
        (s.anchor, s.title) for s in detail]
    toc = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in links)
    figures = "\n".join(image(c, png) for c, png in (plots or {}).items())
    pictures = f'<section id="plots"><h2>Plots</h2>{figures}</section>' if figures else ""
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
<p class="machine">{machine}</p>
{verdict(report.verdict)}
<nav class="toc">{toc}</nav>
{"".join(section(s) for s in short)}
{pictures}
{"".join(section(s) for s in detail)}
</body>
</html>
"""
