"""Benchmark figures (tests/benchmarks/figures.py) reach the log file the moment they are recorded."""

import json
from types import SimpleNamespace

import pytest

from tests.benchmarks import figures as figures_module
from tests.benchmarks.figures import Figures


@pytest.fixture(autouse=True)
def _own_summary(monkeypatch):
    """These made-up figures stay out of the run's printed summary of measured ones."""
    monkeypatch.setattr(figures_module, "RECORDED", [])


def test_each_figure_is_appended_to_the_log_as_it_is_recorded(monkeypatch, tmp_path):
    log = tmp_path / "figures.jsonl"
    monkeypatch.setenv("SITEBENCH_FIGURES_LOG", str(log))
    figures = Figures(SimpleNamespace(extra_info={}), "tests/benchmarks/test_x.py::test_y")
    figures.record("wgmma-tma_bf16_ratio_to_cublas", 0.71, "x")
    first = [json.loads(line) for line in log.read_text().splitlines()]
    figures.record("cublas_bf16_8192", 7.8e14, "FLOP/s")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert first == lines[:1] and len(lines) == 2  # written at once, appended after
    assert lines[0]["test"] == "tests/benchmarks/test_x.py::test_y"
    assert (lines[0]["name"], lines[0]["value"], lines[0]["unit"]) == ("wgmma-tma_bf16_ratio_to_cublas", 0.71, "x")
    assert lines[1]["value"] == 7.8e14 and "load_1min" in lines[1] and lines[1]["time"] >= lines[0]["time"]
    assert figures.benchmark.extra_info["cublas_bf16_8192_unit"] == "FLOP/s"
    assert [line for _, line in figures_module.RECORDED][1].startswith("cublas_bf16_8192 = 780 TFLOP/s (load ")


def test_without_the_variable_nothing_is_written(monkeypatch, tmp_path):
    monkeypatch.delenv("SITEBENCH_FIGURES_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    Figures(SimpleNamespace(extra_info={}), "t").record("x", 1.0, "s")
    assert list(tmp_path.iterdir()) == []
