"""Run files are checked by a schema (bench.results.RunFile): a malformed file is exit 2 naming the first bad
field and its path, never a traceback in a renderer; every run file the suite ships still reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.results import check_document, json_schema, load_run
from tests.cli import ROOT

BASE = json.loads((ROOT / "tests/fixtures/runs/baseline.json").read_text())
SHIPPED = sorted((ROOT / "tests/fixtures/runs").glob("*.json")) + sorted((ROOT / "reports").glob("example*/run.json"))


def _variant(tmp_path: Path, change) -> Path:
    doc = json.loads(json.dumps(BASE))
    change(doc)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_shipped_run_file_reads(path):
    assert load_run(path)["schema_version"] == 1


@pytest.mark.parametrize("change,where", [
    (lambda d: d["results"][0].__setitem__("value", "fast"), "results[0].value"),
    (lambda d: d["results"][0].__setitem__("params", [1, 2]), "results[0].params"),
    (lambda d: d["results"][1].__setitem__("samples", "1,2,3"), "results[1].samples"),
    (lambda d: d["results"][0].__setitem__("verified", "maybe"), "results[0].verified"),
    (lambda d: d["results"][0].__setitem__("energy", "lots"), "results[0].energy"),
    (lambda d: d["results"][0].pop("unit"), "results[0].unit"),
    (lambda d: d["results"].__setitem__(0, None), "results[0]"),
    (lambda d: d["run"].__setitem__("cpu", "a string"), "run.cpu"),
    (lambda d: d["run"].__setitem__("options", "quick"), "run.options"),
    (lambda d: d.__setitem__("economics", [1, 2]), "economics"),
    (lambda d: d.__setitem__("results", {}), "results"),
    (lambda d: d.__setitem__("complete", "no"), "complete"),
    (lambda d: d["results"][0].__setitem__("value", "1.5"), "results[0].value"),  # strict: text is not a number
])
def test_a_bad_field_is_named_with_its_path(tmp_path, change, where):
    with pytest.raises(UsageError) as exc:
        load_run(_variant(tmp_path, change))
    line = str(exc.value)
    assert f"field {where}:" in line and "\n" not in line


def test_nan_and_infinity_are_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(BASE).replace(json.dumps(BASE["results"][0]["value"]), "NaN", 1))
    with pytest.raises(UsageError, match="NaN is not a JSON number"):
        load_run(path)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"schema_version": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}"])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path, text):
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(UsageError, match="nested|top level"):
        load_run(path)


def test_unknown_fields_are_kept_and_the_schema_is_published():
    doc = json.loads(json.dumps(BASE))
    doc["run"]["new_field_of_a_later_version"] = {"x": 1}
    assert check_document(doc)
    schema = json_schema()
    assert schema["title"] == "RunFile" and "results" in schema["properties"]
