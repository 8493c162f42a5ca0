"""MPI runs: real `mpiexec -n 2 python -m bench run` jobs on the CPU, and the pieces they are made of.

The jobs (skipped, with the reason, only where no MPI launcher or mpi4py is installed) check that the
hash rates add up, that the genesis nonce planted in rank 1's first work unit reaches rank 0's report
with the hash hashlib gives, and that a rank that raises or hangs ends the job with exit 1, that rank
named, within the test's own timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from bench.errors import UsageError
from bench.mpi import bind as mpi_bind
from bench.mpi import env as mpi_env
from bench.mpi import fault as mpi_fault
from bench.mpi import results as mpi_results
from bench.mpi import scan as mpi_scan
from bench.mpi.team import Team
from bench.results import Result, load_run
from bench.workloads import sha256d as W
from kernels.runtime import DeviceInfo
from kernels.sha256 import reference as ref
from tests.cli import ROOT, Completed

GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
JOB = ("run", "--workload", "sha256d", "--backend", "numba-cpu", "--quick", "--budget", "1")


# --- the pieces --------------------------------------------------------------------------------


def test_a_launch_is_detected_from_any_launchers_world_size():
    assert not mpi_env.launched({})
    assert not mpi_env.launched({"PMI_SIZE": "1"})  # a one-rank job needs --mpi
    assert mpi_env.launched({"PMI_SIZE": "2", "PMI_RANK": "1"})  # MPICH hydra
    assert mpi_env.launched({"OMPI_COMM_WORLD_SIZE": "4"})  # Open MPI
    assert mpi_env.launched({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "3"})  # srun
    assert mpi_env.launcher_size({"PMI_SIZE": "x"}) is None


def test_a_launcher_whose_ranks_mpi_does_not_connect_is_exit_2_with_the_fix():
    mpi_env.check_world(2, {"PMI_SIZE": "2"})
    with pytest.raises(UsageError, match="world of 1.*--mpi=pmi2"):
        mpi_env.check_world(1, {"SLURM_STEP_NUM_TASKS": "4"})


def test_fault_specs_parse_or_say_the_rule():
    assert mpi_fault.parse(None) is None and mpi_fault.parse("") is None
    assert mpi_fault.parse("rank:1:hang:sha256d") == mpi_fault.Fault(1, "hang", "sha256d")
    for bad in ("rank:1:explode", "1:raise", "rank:x:raise", "rank:1:raise:gemm"):
        with pytest.raises(UsageError, match="rank:R:raise"):
            mpi_fault.parse(bad)
    fault = mpi_fault.parse("rank:1:raise")
    fault.strike(0, "cases")  # another rank: nothing
    with pytest.raises(mpi_fault.InjectedFault, match="rank:1:raise in phase cases"):
        fault.strike(1, "cases")
    fault.strike(1, "sha256d")  # strikes once


def test_cores_are_shared_out_unless_the_launcher_bound_the_ranks():
    assert mpi_bind.share_cores([[0, 1], [0, 1]], 1) == ([1], "shared out")
    assert mpi_bind.share_cores([list(range(8))] * 3, 2) == ([5, 6, 7], "shared out")
    assert mpi_bind.share_cores([[2, 3], [0, 1]], 0) == ([2, 3], "bound by the launcher")
    cores, how = mpi_bind.share_cores([[0, 1]] * 3, 2)
    assert cores == [0] and how.startswith("oversubscribed")


def _sel(backend: str, kind: str, index: int):
    return SimpleNamespace(backend=backend, device=DeviceInfo(index, f"{kind}{index}", kind))


def test_each_rank_drives_the_gpu_of_its_local_rank_and_gpu_nodes_skip_cpu_backends():
    found = [_sel("numba-cpu", "cpu", 0), _sel("cupy", "gpu", 0), _sel("cupy", "gpu", 1), _sel("opencl", "gpu", 0)]
    picked = mpi_bind.pick(found, 3, explicit=False)
    assert [(s.backend, s.device.index) for s in picked] == [("cupy", 1), ("opencl", 0)]
    picked = mpi_bind.pick(found, 2, explicit=True)  # --backend named them: the CPU backend stays
    assert [(s.backend, s.device.index) for s in picked] == [("numba-cpu", 0), ("cupy", 0), ("opencl", 0)]


def test_units_interleave_over_ranks_and_the_genesis_nonce_is_the_last_ranks_first_hit():
    for ranks, rate in ((1, 3e7), (2, 3e7), (3, 8e9), (8, 8e9)):
        plan = mpi_scan.layout([rate] * ranks, 10.0)
        assert plan.unit & (plan.unit - 1) == 0 and plan.unit <= 1 << 32
        roll, first = plan.unit_of(ranks - 1, 0)
        assert roll == 0 and first <= W.REAL_NONCE < first + plan.unit
        assert plan.owner(0, W.REAL_NONCE) == (ranks - 1, 0)
        seen = [plan.unit_of(r, i) for i in range(3) for r in range(ranks)]
        assert len(set(seen)) == len(seen)  # no unit scanned twice
        for r in range(ranks):
            assert plan.owner(*plan.unit_of(r, 2)) == (r, 2)


def test_rolled_headers_move_only_the_time_field():
    header = W.HEADER
    back = mpi_scan.rolled(header, -1)
    assert back[:68] == header[:68] and back[72:] == header[72:]
    assert int.from_bytes(back[68:72], "little") == int.from_bytes(header[68:72], "little") - 1
    assert mpi_scan.rolled(mpi_scan.rolled(header, 5), -5) == header


def test_scan_window_stops_after_the_window_and_rank_0_checks_every_hit():
    plan = mpi_scan.Layout(ranks=2, unit=64, base=W.REAL_NONCE - 64 - 5, window_s=0.3, target=ref.header_target(W.HEADER))
    clock = iter(x * 0.1 for x in range(100))
    done = mpi_scan.scan_window(lambda h, s, n, t, device: ref.scan(h, s, n, t), 0, plan, 1, lambda: next(clock))
    assert done["units"] == 2 and done["hashes"] == 128 and done["hits"] == [(0, W.REAL_NONCE)]
    ok, what, hits = mpi_scan.check_hits(plan, 1, done)
    assert ok and "genesis nonce 2083236893 found" in what and hits[0]["hash"] == GENESIS_HASH
    ok, what, _ = mpi_scan.check_hits(plan, 0, done)  # the same hit claimed by a rank not given that unit
    assert not ok and "1 WRONG" in what
    ok, what, _ = mpi_scan.check_hits(plan, 1, {**done, "hits": []})
    assert not ok and "MISSING" in what


def _result(rank: int, value: float, joules: float, verified: bool = True) -> Result:
    return Result("gemm", "numba-cpu", "cpu", {"m": 8, "rank": rank, "ranks": 2}, "flop_per_s", value, "FLOP/s",
                  [value], {}, verified, "checked", energy={"joules": joules, "watts": joules, "source": "rapl",
                  "seconds": 1.0, "joules_per_unit": joules / value, "per": "FLOP"},
                  extra={"rank": rank, "host": "h"}, reference="numpy (cpu)", ratio_to_reference=2.0)


def test_ranks_sharing_a_package_split_its_reading_and_totals_add_up():
    a, b = _result(0, 10.0, 100.0), _result(1, 30.0, 100.0)
    mpi_results.share_energy([(a, ("h", "cpu")), (b, ("h", "cpu"))])
    assert a.energy["joules"] == b.energy["joules"] == 50.0 and "shared by ranks 0, 1" in a.energy["detail"]
    total = mpi_results.total([a, b], ranks=2, absent=[])
    assert total.value == 40.0 and total.verified and total.params["rank"] == "all"
    assert total.energy["joules"] == 100.0 and total.energy["joules_per_unit"] == pytest.approx(100.0 / 40.0)
    assert total.ratio_to_reference == pytest.approx(2.0)
    assert not mpi_results.total([a], ranks=2, absent=["rank 1"]).verified


class _SilentComm:
    """A world of two in which rank 1 never answers."""

    def Get_rank(self):  # noqa: N802
        return 0

    def Get_size(self):  # noqa: N802
        return 2

    def Iprobe(self, source, tag):  # noqa: N802
        return False

    def Abort(self, code):  # noqa: N802
        raise SystemExit(code)


def test_rank_0_names_a_rank_that_misses_the_deadline_instead_of_waiting():
    now = [0.0]
    team = Team(_SilentComm(), lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    team.begin("sha256d window", 5.0)
    got = team.gather({"ok": True})
    assert got.values == {0: {"ok": True}} and got.missing == [1]
    assert 5.0 <= now[0] < 5.1


# --- real jobs ---------------------------------------------------------------------------------

LAUNCHER = mpi_env.find_launcher()
needs_mpi = pytest.mark.skipif(LAUNCHER is None, reason="no MPI launcher (mpiexec/mpirun) installed")


def mpirun(*args: str, env: dict | None = None, ranks: int = 2, timeout: float = 300) -> Completed:
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[mpi]')")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "160", **(env or {})}
    proc = subprocess.run([LAUNCHER, "-n", str(ranks), sys.executable, "-m", "bench", *args], capture_output=True,
                          text=True, cwd=ROOT, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)
    return Completed(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi")
    done = mpirun(*JOB, "--out", str(out), "--json", "-")
    assert done.code == 0, done.err
    return json.loads(done.out), out


@needs_mpi
def test_two_ranks_share_out_the_cores_and_their_hash_rates_add_up(job):
    doc, _ = job
    bindings = doc["run"]["mpi"]["bindings"]
    assert [b["rank"] for b in bindings] == [0, 1] and not set(bindings[0]["cores"]) & set(bindings[1]["cores"])
    scans = [r for r in doc["results"] if r["workload"] == "sha256d" and r["backend"] == "numba-cpu"]
    per_rank = [r for r in scans if r["params"]["rank"] != "all"]
    (total,) = [r for r in scans if r["params"]["rank"] == "all"]
    assert sorted(r["params"]["rank"] for r in per_rank) == [0, 1]
    assert all(r["verified"] and r["value"] > 0 for r in scans)
    assert total["value"] == pytest.approx(sum(r["value"] for r in per_rank), rel=1e-12)
    for r in per_rank:  # a rank's rate is its hashes over its own window
        assert r["value"] == pytest.approx(r["extra"]["hashes"] / r["timing"]["window_s"])
        assert r["timing"]["window_s"] >= 1.0
    summary = doc["run"]["mpi"]["sha256d"][0]
    assert summary["aggregation_s"] >= 0 and total["extra"]["aggregation_fraction"] == summary["aggregation_fraction"]


@needs_mpi
def test_the_hit_planted_in_rank_1s_range_reaches_rank_0s_report(job):
    doc, out = job
    hits = doc["run"]["mpi"]["sha256d"][0]["hits"]
    genesis = [h for h in hits if h["nonce"] == W.REAL_NONCE and h["time_roll"] == 0]
    assert genesis == [{"rank": 1, "time_roll": 0, "nonce": W.REAL_NONCE, "hash": GENESIS_HASH, "ok": True}]
    assert ref.display_hex(ref.block_hash(W.HEADER, W.REAL_NONCE)) == GENESIS_HASH
    assert all(h["ok"] for h in hits)
    assert load_run(out / "run.json")["results"] == doc["results"]  # the files hold what stdout did


@needs_mpi
def test_a_rank_that_raises_gives_exit_1_naming_it_after_the_report(tmp_path):
    done = mpirun(*JOB, "--out", str(tmp_path), env={mpi_fault.ENV: "rank:1:raise:sha256d"}, timeout=240)
    assert done.code == 1, done.err
    assert "Traceback" not in done.err
    last = done.err.strip().splitlines()[-1]
    assert "rank 1" in last and "InjectedFault" in last
    doc = load_run(tmp_path / "run.json")
    assert [e["rank"] for e in doc["run"]["errors"]] == [1]
    assert any(r["params"].get("rank") == 0 and r["verified"] for r in doc["results"] if r["backend"] == "numba-cpu")


@needs_mpi
def test_a_rank_that_hangs_is_named_and_the_job_ends_with_exit_1(job, tmp_path):
    """After `job` (the kernels compiled and cached), every healthy phase takes a second or two: a short
    deadline is missed only by the hanging rank, and the test waits that long, not 15 s."""
    done = mpirun(*JOB, "--mpi-timeout", "6", "--out", str(tmp_path), env={mpi_fault.ENV: "rank:1:hang:sha256d"},
                  timeout=240)
    assert done.code == 1, done.err
    assert "rank 1 on" in done.err and "did not finish phase 'sha256d numba-cpu window'" in done.err
    doc = load_run(tmp_path / "run.json")
    assert doc["complete"] is False and doc["run"]["errors"][0]["rank"] == 1


@needs_mpi
def test_bad_input_under_mpi_is_one_line_from_rank_0_and_exit_2():
    done = mpirun("run", "--backend", "quantum", timeout=240)
    assert done.code == 2 and "Traceback" not in done.err
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert lines == [lines[0]] and "ranks 0-1: unknown backend" in lines[0]
