"""The reports people read: the verdict on the first screen, summaries instead of walls, data escaped.

Rendered into Console(file=StringIO(), width=120) (the terminal), Markdown and HTML, from the committed
example run (110 results, the realistic size) with and without a decision-model `plan`
(tests/fixtures/plan.py), and from the hostile fixture run.
"""

import copy
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from bench import report
from bench.report import build, html, markdown, plots
from bench.results import check_document, load_run
from tests.cli import run_cli
from tests.fixtures.make_runs import EVIL
from tests.fixtures.plan import check_plan, example_plan
from tests.test_report import FULL

EXAMPLE = Path(__file__).resolve().parent.parent / "reports" / "example" / "run.json"


@pytest.fixture(scope="module")
def example():
    """The committed example run as a run without a decision model (its own plan taken out)."""
    doc = load_run(EXAMPLE)
    doc.pop("plan", None)
    return doc


@pytest.fixture(scope="module")
def planned(example):
    doc = copy.deepcopy(example)
    doc["plan"] = example_plan()
    return doc


def terminal(doc, width=120, full=False) -> str:
    buf = io.StringIO()
    report.render(doc, Console(file=buf, width=width), full=full)
    return buf.getvalue()


def test_the_fixture_plan_hangs_together():
    plan = example_plan()
    check_plan(plan)
    assert len(plan["strategies"]) == 5 and all(len(s["cash_flows"]) == 120 for s in plan["strategies"])
    assert plan["ranking"][0] == max(plan["strategies"], key=lambda s: s["npv_usd"])["name"]


@pytest.mark.parametrize("with_plan", [True, False])
def test_verdict_is_in_the_first_40_lines(example, planned, with_plan):
    doc = planned if with_plan else example
    lines = terminal(doc).splitlines()
    head = "\n".join(lines[:40])
    if with_plan:
        assert "Verdict: keep mining or convert?" in head
        assert doc["plan"]["verdict"][:60] in " ".join(x.strip("│ ") for x in lines[:40])
        for name in doc["plan"]["ranking"]:
            assert name in head
        for figure in ("NPV", "IRR", "payback", "capex", "EBITDA", "/MW", "site"):
            assert figure in head, figure
        assert "GPU-hour price: flips at $0.95" in head
    else:
        assert "Site view (no decision model in this run)" in head  # the fallback, labelled
        assert "Bitcoin mining" in head and "GPU-as-a-service" in head and "16.3x" in head
    assert "Measured on this machine" in head and "Taken from profiles" in head
    # the lab's noise warning comes after the money
    text = "\n".join(lines)
    assert text.index("NOISY") > text.index("Taken from profiles")


def test_default_terminal_view_is_short_and_no_cell_wraps(planned):
    text = terminal(planned)
    lines = text.splitlines()
    assert len(lines) <= 110, len(lines)
    assert all(len(line) <= 120 for line in lines)
    assert "…" not in text  # no cell cut short
    model = build.build(planned)
    compact = [*model.verdict.tables, *(t for s in model.sections if not s.detail for t in s.tables)]
    assert compact
    for t in compact:
        for cells in t.rows:
            for cell in cells:
                # every cell of the default view appears whole on one line: it did not wrap
                assert any(cell in line for line in lines), (t.title, cell)
    full = terminal(planned, full=True)
    cpu = planned["run"]["cpu"]["model"]
    assert len(full.splitlines()) > 3 * len(lines) and f"Dense GEMM fp32 on {cpu}"[:40] in full
    assert all(len(line) <= 120 for line in full.splitlines())  # wide detail folds, never runs off


@pytest.mark.parametrize("width", [80, 100])
def test_a_narrow_terminal_folds_cells_and_cuts_nothing(planned, width):
    text = terminal(planned, width=width)
    assert all(len(line) <= width for line in text.splitlines())
    for column in ("energy", "NOISY", "of bound", "EBITDA", "peak"):
        assert column in text, column  # every column is still there (folded, not cropped)


def test_one_scaled_row_per_gpu_labelled_with_its_kernel(planned):
    model = build.build(planned)
    scaled = next(t for s in model.sections if not s.detail for t in s.tables if t.title.startswith("GEMM scaled"))
    gpus = {r["gpu"] for r in planned["economics"]["gemm_scaling"]}
    assert len(scaled.rows) == len(gpus)
    kernels = {r["extra"].get("kernel") for r in planned["results"] if r["workload"] == "gemm"} - {None}
    assert any(f"({k})" in n for n in scaled.notes for k in kernels)  # the kernel each dtype's fraction came from


def test_engineer_summary_has_one_row_per_backend(planned):
    model = build.build(planned)
    summary = model.sections[0].tables[0]
    keys = {(r["workload"], r["backend"], r.get("device_index", 0)) for r in planned["results"]}
    assert len(summary.rows) == len(keys)
    gemm_numba = next(row for row in summary.rows if row[0] == "GEMM" and row[1] == "numba-cpu:0")
    assert re.fullmatch(r"\d\.\d+x", gemm_numba[5]) and gemm_numba[6].endswith("peak")


def test_a_plan_with_missing_keys_shows_dashes_not_errors(example):
    doc = copy.deepcopy(example)
    doc["plan"] = {"strategies": [{"name": "keep mining"}, {"name": "odd", "npv_usd": "n/a", "per_mw": 3,
                                                             "payback_month": None}], "flips": [{}], "ranking": []}
    text = terminal(doc)
    assert "keep mining" in text and "—" in text and "never" in text


def test_markdown_puts_the_verdict_first(planned):
    md = markdown.render(build.build(planned))
    lines = md.splitlines()
    assert any("Verdict: keep mining or convert?" in line for line in lines[:10])
    assert md.index("Strategies ranked by NPV") < md.index("Engineer") < md.index("Dense GEMM fp32")


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.ids = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id"]

    def handle_data(self, data):
        self.text.append(data)


def test_html_has_the_verdict_box_first_and_collapses_the_detail(planned):
    page = html.render(build.build(planned))
    parser = Page()
    parser.feed(page)
    assert parser.ids[0] == "verdict"
    assert page.index('id="verdict"') < page.index('<nav class="toc">') < page.index('<details')
    assert {"results", "site", "plan", "run"} <= set(parser.ids)
    assert parser.tags.count("details") >= 4


@pytest.mark.parametrize("field", ["host", "profile", "backend", "device", "plan"])
def test_every_user_string_is_escaped_in_html(field):
    doc = load_run(FULL)
    doc["plan"] = example_plan()
    if field == "host":
        doc["run"]["hostname"] = EVIL
    elif field == "profile":
        doc["economics"]["uses"][0]["name"] = EVIL
        doc["economics"]["gemm_scaling"][0]["gpu"] = EVIL
    elif field == "backend":
        for r in doc["results"]:
            r["backend"] = EVIL
    elif field == "device":
        for r in doc["results"]:
            r["device"] = EVIL
    else:
        doc["plan"]["strategies"][0]["name"] = EVIL
        doc["plan"]["verdict"] = EVIL
    page = html.render(build.build(doc), {EVIL: b"\x89PNG"})
    assert "<script>" not in page and "&lt;script&gt;" in page
    parser = Page()
    parser.feed(page)
    assert "script" not in parser.tags
    assert EVIL in "".join(parser.text)
    assert "<script>" not in markdown.render(build.build(doc))


def test_plots_answer_the_question(planned):
    made = plots.all_plots(planned["economics"], check_document(planned), planned.get("plan"))
    assert {"npv.png", "cash_flows.png", "sensitivity.png", "inference.png", "gemm_efficiency.png"} <= set(made)
    assert all(png.startswith(b"\x89PNG") for _, png in made.values())


def test_csv_of_results_and_site_view(example, tmp_path):
    before = EXAMPLE.read_bytes()
    out = run_cli("report", str(EXAMPLE), "--csv", str(tmp_path / "r.csv"), "--site-csv", str(tmp_path / "s.csv"))
    assert out.code == 0, out.err
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) == 1 + len(example["results"]) and rows[0].startswith("workload,backend")
    site = (tmp_path / "s.csv").read_text().splitlines()
    assert len(site) == 1 + len(example["economics"]["uses"]) and "margin_usd_per_mw_year" in site[0]
    assert EXAMPLE.read_bytes() == before  # the run file itself is untouched
