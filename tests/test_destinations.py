"""Destinations are checked before any work, a failing write at the end still saves the run somewhere, runs never
overwrite each other, and a closed stdout costs no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report as report_pkg
from bench import runner as R
from bench.errors import UsageError
from bench.files import check_destination, write_atomic
from bench.results import load_run
from bench.runner import finish
from tests import fake_workload as F
from tests.cli import ROOT, assert_usage_error, run_cli

UNWRITABLE = "/proc/sitebench-none/x"  # nothing can be made under /proc, not even by root


@pytest.mark.parametrize("kind,make,words", [
    ("file", lambda t: t, ["is a folder"]),
    ("folder", lambda t: (t / "f").write_text("x") and t / "f", ["is a file"]),
    ("file", lambda t: (t / "f").write_text("x") and t / "f" / "run.json", ["is a file"]),
    ("file", lambda t: Path(UNWRITABLE), ["cannot write"]),
    ("folder", lambda t: Path(UNWRITABLE), ["cannot write"]),
    ("file", lambda t: " ", ["empty"]),
])
def test_a_bad_destination_is_one_line(tmp_path, kind, make, words):
    with pytest.raises(UsageError) as exc:
        check_destination(make(tmp_path), kind, "--json")
    line = str(exc.value)
    assert "\n" not in line and line.startswith("--json")
    assert all(w in line for w in words), line


def test_good_destinations_pass_and_nothing_is_created(tmp_path):
    check_destination(tmp_path / "new" / "deeper" / "run.json", "file")
    check_destination(tmp_path / "new" / "out", "folder")
    check_destination("-", "file")
    check_destination(os.devnull, "file")
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_a_device_is_written_in_place_never_replaced():
    write_atomic(os.devnull, "x")
    assert not Path(os.devnull).is_file()  # still the device, not a regular file renamed over it


def _go(tmp_path, **kw):
    return R.run(R.Options(out=str(tmp_path / "report"), quick=True, budget_s=0.02, **kw), load=F.loader(),
                 choose=F.choose)


def test_an_existing_run_folder_is_refused_unless_force(tmp_path):
    assert _go(tmp_path) == 0
    with pytest.raises(UsageError, match="already holds a run.*--force"):
        _go(tmp_path)
    assert R.run(R.Options(out=str(tmp_path / "report"), quick=True, budget_s=0.02), load=F.loader(),
                 choose=F.choose, force=True) == 0


def test_a_write_that_fails_at_the_end_saves_the_run_elsewhere(tmp_path, monkeypatch, capsys):
    real = report_pkg.write_all
    target = tmp_path / "report"

    def full_disk(doc, folder):
        if Path(folder) == target:
            raise OSError(28, "No space left on device")
        return real(doc, folder)

    monkeypatch.setattr(report_pkg, "write_all", full_disk)
    monkeypatch.setattr(finish, "REPORTS", tmp_path / "fallback")
    with pytest.raises(UsageError, match="No space left.*saved in") as exc:
        _go(tmp_path)
    saved = Path(str(exc.value).split("saved in ")[1].split(" instead")[0])
    assert saved.parent == tmp_path / "fallback"
    assert load_run(saved / "run.json")["complete"] is True


def test_default_folders_are_unique_per_run(tmp_path, monkeypatch):
    monkeypatch.setattr(finish, "REPORTS", tmp_path)
    options = R.Options(quick=True)
    a = finish.out_dir(options, {"folder": "20260101T000000Z-host"})
    b = finish.out_dir(options, {"folder": "20260101T000000Z-host"})
    assert a != b and a.is_dir() and b.is_dir() and str(os.getpid()) in a.name


@pytest.mark.parametrize("args", [
    ["run", "--quick", "--json", "{tmp}"],
    ["run", "--quick", "--out", UNWRITABLE],
    ["report", str(ROOT / "tests/fixtures/runs/baseline.json"), "--out", "{tmp}/f"],
    ["compare", str(ROOT / "tests/fixtures/runs/baseline.json"), str(ROOT / "tests/fixtures/runs/baseline.json"),
     "--json", "{tmp}"],
    ["economics", "--json", UNWRITABLE],
    ["profiles", "--json", "{tmp}"],
])
def test_every_verb_refuses_a_bad_destination_before_working(tmp_path, args):
    (tmp_path / "f").write_text("x")
    assert_usage_error(run_cli(*[a.format(tmp=tmp_path) for a in args]), "--")


def test_a_closed_stdout_still_gets_the_report_saved_and_exits_0(tmp_path):
    """`run --json - | head -c 100`: the folder is written first; the closed pipe is not an error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    cmd = (f"{sys.executable} -m bench run --workload sha256d --backend numba-cpu --quick --budget 0.02 "
           f"--json - --out {tmp_path}/r | head -c 100 > /dev/null; echo rc=${{PIPESTATUS[0]}} >&2")
    proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "rc=0" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert load_run(tmp_path / "r" / "run.json")["complete"] is True
    assert json.loads((tmp_path / "r" / "run.json").read_text())["results"]
