"""`bench run` end to end on a tiny fake workload (in-process), and its CLI contract (subprocess)."""

import json
import os
import signal
import subprocess
import sys

import pytest

from bench import runner as R
from bench.errors import UsageError, VerificationError
from bench.results import load_run
from bench.runner import planner as P
from kernels.runtime import DeviceInfo
from tests import fake_workload as F
from tests.cli import ROOT, assert_usage_error, run_cli

TINY = dict(quick=True, budget_s=0.02)


def go(tmp_path, load=None, **kw):
    options = R.Options(out=str(tmp_path / "report"), **{**TINY, **kw})
    code = R.run(options, load=load or F.loader(), choose=F.choose)
    return code, tmp_path / "report"


def test_plan_puts_references_first_and_lists_missing_workloads():
    plan = P.plan(R.Options(quick=True), F.loader(), F.choose)
    assert [c.backend for c in plan.cases] == ["hashlib", "numba-cpu", "opencl"]  # duplicate key planned once
    assert plan.cases[0].is_reference
    assert [m["workload"] for m in plan.missing] == ["gemm", "inference"]


def test_asking_for_a_workload_that_has_not_landed_is_exit_2():
    with pytest.raises(UsageError, match="gemm cannot run.*has not landed"):
        P.plan(R.Options(workloads=["gemm"]), F.loader(), F.choose)


def test_a_run_writes_every_file_with_ratios_energy_and_metadata(tmp_path, capsys):
    code, folder = go(tmp_path)
    assert code == 0
    doc = load_run(folder / "run.json")
    assert doc["complete"] is True
    assert {p.name for p in folder.iterdir()} >= {"run.json", "report.md", "report.html"}
    ref, mine, other = doc["results"]
    assert ref["is_reference"] and ref["backend"] == "hashlib"
    assert mine["ratio_to_reference"] == pytest.approx(mine["value"] / ref["value"])
    assert mine["verified"] and mine["verification"].startswith("sum of 20000")
    assert mine["timing"]["calls_per_sample"] >= 1 and mine["compile_s"] is not None
    assert mine["timing"]["quiet_wait_s"] >= 0  # waited for other threads before timing (bench.runner.quiet)
    assert len(mine["samples"]) == mine["stats"]["n"] >= 3
    assert mine["extra"]["seconds_per_call"] > 0
    if mine["energy"] is not None:  # bench.power has landed: every figure names its source
        assert mine["energy"]["source"] in ("nvml", "rapl", "estimate") and mine["energy"]["joules_per_unit"] > 0
    run = doc["run"]
    assert run["hostname"] and run["cpu"]["model"] and "numpy" in run["packages"]
    assert run["options"]["quick"] is True
    assert [m["workload"] for m in run["missing_workloads"]] == ["gemm", "inference"]
    out = capsys.readouterr()
    assert "Engineer's summary" in out.out and "Site view" in out.out
    assert "report written to" in out.err


def test_json_dash_puts_only_json_on_stdout(tmp_path, capsys):
    go(tmp_path, json="-")
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["schema_version"] == 1 and len(doc["results"]) == 3
    assert "Engineer's summary" in out.err  # the tables went to stderr


def test_json_to_a_path(tmp_path):
    go(tmp_path, json=str(tmp_path / "copy.json"))
    assert load_run(tmp_path / "copy.json")["results"]


def test_failed_verification_is_saved_then_exit_1(tmp_path):
    with pytest.raises(VerificationError, match="numba-cpu"):
        go(tmp_path, load=F.loader(wrong=True))
    doc = load_run(tmp_path / "report" / "run.json")
    bad = [r for r in doc["results"] if not r["verified"]]
    assert [r["backend"] for r in bad] == ["numba-cpu"]
    assert "FAILED VERIFICATION" in (tmp_path / "report" / "report.md").read_text()
    if doc.get("economics"):
        assert "numba-cpu" not in json.dumps(doc["economics"].get("mining_efficiency", []))


def test_a_case_that_raises_is_recorded_and_the_others_still_run(tmp_path):
    with pytest.raises(VerificationError, match="driver fell over"):
        go(tmp_path, load=F.loader(raises=True))
    doc = load_run(tmp_path / "report" / "run.json")
    assert [r["backend"] for r in doc["results"]] == ["hashlib", "numba-cpu"]
    assert doc["run"]["errors"][0]["backend"] == "opencl"


def test_ctrl_c_saves_what_is_done_marked_incomplete(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path, load=F.loader(interrupt=True))
    doc = load_run(tmp_path / "report" / "run.json")  # valid JSON, schema 1
    assert doc["complete"] is False
    assert [r["backend"] for r in doc["results"]] == ["hashlib", "numba-cpu"]
    assert doc["run"]["interrupted_at"].startswith("sha256d/opencl:0")
    assert "INCOMPLETE" in (tmp_path / "report" / "report.md").read_text()


def test_default_selection_skips_the_cuda_simulator(monkeypatch):
    from bench import backends

    sim = DeviceInfo(0, "Numba CUDA simulator", "simulator")
    statuses = [backends.BackendStatus("numba-cuda", "gemm", True, "", [sim]),
                backends.BackendStatus("cupy", "gemm", False, "cupy: no CUDA device found"),
                backends.BackendStatus("opencl", "gemm", False, "opencl has no gemm kernel", has_kernel=False)]
    monkeypatch.setattr(backends, "discover", lambda workloads: statuses)
    skipped = []
    assert P.select("gemm", None, skipped) == []
    reasons = {s["backend"]: s["reason"] for s in skipped}
    assert "only when asked" in reasons["numba-cuda"] and "no CUDA device" in reasons["cupy"]
    assert "opencl" not in reasons  # a backend without this kernel is not news


def test_budget_option():
    assert R.Options(quick=True).budget == R.QUICK
    assert R.Options().budget == R.DEFAULT
    tiny = R.Options(quick=True, budget_s=0.05).budget
    assert tiny.budget_s == 0.05 and tiny.min_sample_s <= 0.01


# --- the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,words", [
    (["--workload", "mining"], ["invalid choice"]),
    (["--backend", "quantum"], ["unknown backend"]),
    (["--backend", "opencl:x"], ["device index"]),
    (["--budget", "0"], ["--budget"]),
    (["--backend", "cupy"], ["cupy"]),  # no GPU here: never a silent fallback to another backend
    (["--profile", "antminer-s99"], ["no ASIC or GPU profile", "antminer-s99"]),
    (["--profile", "host"], ["CPU profile"]),
    (["--site", "mars"], ["site", "mars"]),
    (["--market", "1999-01-01"], ["market", "1999-01-01"]),
])
def test_run_bad_input_exits_2_with_one_line(args, words, tmp_path):
    assert_usage_error(run_cli("run", "--quick", "--out", str(tmp_path), *args), *words)


def test_ctrl_c_in_a_real_run_exits_130_and_leaves_valid_json(tmp_path):
    """A real SIGINT in the middle of the numba-cpu case, after the hashlib reference has finished."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--quick", "--workload", "sha256d", "--backend", "numba-cpu",
         "--budget", "3", "--out", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("sha256d hashlib:0"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err
    assert "Traceback" not in err and "interrupted" in err
    doc = load_run(tmp_path / "run.json")
    assert doc["complete"] is False
    assert [r["backend"] for r in doc["results"]] == ["hashlib"]
    assert doc["run"]["interrupted_at"].startswith("sha256d/numba-cpu:0")


def test_cli_run_json_to_stdout_is_only_json(tmp_path):
    """A real run of one workload on one backend: stdout is exactly the run file, tables go to stderr."""
    result = run_cli("run", "--quick", "--budget", "0.05", "--workload", "sha256d", "--workload", "sha256d",
                     "--backend", "numba-cpu", "--json", "-", "--out", str(tmp_path))
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [r["backend"] for r in doc["results"]] == ["hashlib", "numba-cpu"]
    assert all(r["verified"] for r in doc["results"]) and doc["economics"]["uses"]
    assert "Engineer's summary" in result.err and "\x1b[" not in result.err  # NO_COLOR, not a terminal
    assert load_run(tmp_path / "run.json") == doc
