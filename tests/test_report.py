import copy
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from bench import report
from bench.errors import UsageError
from bench.files import dumps
from bench.report import build as report_data
from bench.report import markdown as report_markdown
from bench.report import plots as report_plots
from bench.results import Result, check_document, load_run
from tests.cli import assert_usage_error, run_cli
from tests.fixtures.make_runs import EVIL

RUNS = Path(__file__).parent / "fixtures" / "runs"
FULL = RUNS / "full.json"


@pytest.fixture
def full():
    return load_run(FULL)


def rendered(doc, width=200, full=False) -> str:
    buf = io.StringIO()
    report.render(doc, Console(file=buf, width=width, color_system=None), full=full)
    return buf.getvalue()


# --- the run file ------------------------------------------------------------------------------


def test_run_file_round_trips_through_json(full, tmp_path):
    results = check_document(full)
    assert [Result.from_dict(r.to_dict()) for r in results] == results
    path = tmp_path / "again.json"
    path.write_text(dumps(full))
    assert load_run(path) == full
    r = results[1]
    assert r.samples and set(r.stats) >= {"median", "iqr", "min", "max", "cv"}
    assert r.energy["source"] in ("nvml", "rapl", "estimate") and r.energy["joules_per_unit"] > 0


@pytest.mark.parametrize("mutate,words", [
    (lambda d: d.update(schema_version=2), ["schema_version is 2", "reads schema_version 1"]),
    (lambda d: d.pop("results"), ["results"]),
    (lambda d: d["results"][0].pop("samples"), ["results[0]", "samples"]),
    (lambda d: d.update(run="x"), ["run"]),
])
def test_load_run_names_what_is_wrong(full, tmp_path, mutate, words):
    doc = copy.deepcopy(full)
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError) as err:
        load_run(path)
    for word in words:
        assert word in str(err.value)


# --- the terminal -------------------------------------------------------------------------------


def test_terminal_report_shows_every_section(full):
    text = rendered(full, full=True)
    for expected in ("SHA-256d mining", "Dense GEMM", "AI inference", "Site view", "Mining efficiency",
                     "41.", "MH/s", "2.83x", "kJ/TH (estimate)", "J/TFLOP", "J/token", "CV",
                     "Bitcoin mining", "GPU-as-a-service", "Hosting / colocation", "Token sales", "$10.5M",
                     "-$100k", "Not run here", "cupy: no CUDA device found", "fixture-host"):
        assert expected in text, expected


def test_terminal_shows_data_as_text_never_as_markup(full):
    text = rendered(full, full=True)
    assert EVIL in text
    assert "[bold]16[/bold]" in text  # rich markup in a device name is printed, not applied


def test_noisy_and_failed_and_incomplete_are_flagged(full):
    doc = copy.deepcopy(full)
    doc["results"][2]["stats"]["cv"] = 0.2
    doc["results"][1]["verified"] = False
    doc["results"][1]["verification"] = "nonce 7 does not meet the target"
    doc["complete"] = False
    text = rendered(doc)
    assert "NOISY" in text
    assert "FAILED VERIFICATION" in text and "nonce 7 does not meet the target" in text
    assert "INCOMPLETE" in text


def test_no_colour_codes_for_a_file(full):
    buf = io.StringIO()
    report.render(full, Console(file=buf, width=120))  # not a terminal: rich writes plain text
    assert "\x1b[" not in buf.getvalue()


def test_missing_workloads_and_economics_are_said(full):
    doc = copy.deepcopy(full)
    doc["results"] = [r for r in doc["results"] if r["workload"] != "gemm"]
    doc.pop("economics")
    doc["run"]["missing_workloads"] = [{"workload": "gemm", "reason": "bench/workloads/gemm.py has not landed yet"}]
    doc["run"]["economics_missing"] = "the economics have not landed yet"
    text = rendered(doc, full=True)
    assert "Dense GEMM" not in text
    assert "workload gemm missing" in text and "site view not computed" in text


# --- Markdown and HTML --------------------------------------------------------------------------


def test_markdown_escapes_data(full):
    md = report_markdown.render(report_data.build(full))
    assert "<script>" not in md
    assert "&lt;script&gt;" in md
    assert "\\[bold\\]16\\[/bold\\] \\| cores" in md
    rows = [line for line in md.splitlines() if line.startswith("| hashlib:0")]
    assert rows and len(re.split(r"(?<!\\)\|", rows[0])) == 12 + 2  # a pipe in a cell does not split it


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "data", "action")]

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escaped(full, tmp_path):
    folder = report.write_all(full, tmp_path / "out")
    page = (folder / "report.html").read_text()
    parser = Page()
    parser.feed(page)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert parser.tags.count("img") == 5
    images = [u for u in parser.urls if not u.startswith("#")]  # '#...': the table of contents
    assert images and all(u.startswith("data:image/png;base64,") for u in images)
    assert EVIL in "".join(parser.text)  # shown as text
    assert "<script>" not in page


def test_write_all_writes_every_file_atomically(full, tmp_path):
    folder = report.write_all(full, tmp_path / "r")
    names = {p.name for p in folder.iterdir()}
    assert names == {"run.json", "report.md", "report.html", "revenue_margin.png", "efficiency.png",
                     "sensitivity.png", "gemm_efficiency.png", "inference.png", "results.csv", "site.csv"}
    assert load_run(folder / "run.json") == full
    md = (folder / "report.md").read_text()
    assert "](efficiency.png)" in md


def test_plots_are_pngs_and_skip_what_has_no_data(full):
    plots = report_plots.all_plots(full["economics"], check_document(full))
    assert len(plots) == 5  # no plan: no NPV bars or cash-flow curves
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for _, png in plots.values())
    assert report_plots.all_plots(None, []) == {}


# --- the `report` verb --------------------------------------------------------------------------


def test_report_verb_rerenders_a_saved_run(tmp_path):
    result = run_cli("report", str(FULL), "--out", str(tmp_path / "again"))
    assert result.code == 0, result.err
    assert "Site view" in result.out and "Engineer's summary" in result.out
    assert "SHA-256d mining" not in result.out and "--full" in result.out  # the detail is one flag away
    full = run_cli("report", str(FULL), "--full")
    assert "SHA-256d mining" in full.out and "Not run here" in full.out
    assert (tmp_path / "again" / "report.html").exists()


def test_report_of_an_incomplete_run_says_so():
    result = run_cli("report", str(RUNS / "incomplete.json"))
    assert result.code == 0, result.err
    assert "INCOMPLETE" in result.out


@pytest.mark.parametrize("content,words", [
    (None, ["no such file"]),
    ('{"schema_version": 1, "run": {}, "results": [', ["not valid JSON"]),
    ('{"schema_version": 7, "run": {}, "results": []}', ["schema_version is 7"]),
    ("[1, 2]", ["not a run file"]),
])
def test_report_bad_input_exits_2_with_one_line(tmp_path, content, words):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    assert_usage_error(run_cli("report", str(path)), *words)


def test_run_document_is_always_valid_json():
    import numpy as np

    from bench.results import run_document

    doc = run_document({"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(2)},
                       [], complete=True, economics={"payback_years": float("inf"), "err": float("nan")})
    assert json.loads(dumps(doc)) == {"schema_version": 1, "complete": True,
                                      "run": {"n": 3, "x": 0.5, "a": [0, 1]}, "results": [],
                                      "economics": {"payback_years": None, "err": None}}


def test_a_busy_machine_is_called_out(full):
    doc = copy.deepcopy(full)
    doc["run"]["load_average"] = [5.2, 4.0, 3.0]
    doc["run"]["load_average_end"] = [1.0, 1.0, 1.0]
    assert "BUSY MACHINE: load average 5.2 on 2 cores when the run started" in rendered(doc)
    doc["run"]["load_average"] = [0.3, 0.3, 0.3]
    doc["run"]["load_average_end"] = [2.5, 1.0, 1.0]  # this run's own two threads
    assert "BUSY MACHINE" not in rendered(doc)
