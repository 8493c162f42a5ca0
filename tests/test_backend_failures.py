"""Backends that cannot build or that fail mid-run: listed with the reason, skipped, or one line — never a traceback.

The OpenCL failure is the one seen on AMD Zen 5 with PoCL 3.0 ("unknown target CPU 'generic'"), reproduced here
on any CPU by a fake driver (tests/fake_opencl/sitecustomize.py) that makes every program build fail. Compile,
launch and driver errors of the other backends are planted in their modules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench import backends, cli
from bench import runner as R
from bench.errors import UsageError, VerificationError
from bench.results import load_run
from bench.runner import planner
from kernels.runtime import DeviceInfo, cache
from kernels.runtime import opencl as runtime
from tests import headers as H
from tests import opencl_devices
from tests.cli import ROOT, assert_usage_error, run_cli

FAKE_DRIVER = {"PYTHONPATH": f"{ROOT / 'tests' / 'fake_opencl'}{os.pathsep}{ROOT}"}
ZEN5_ERROR = "unknown target CPU 'generic'"


# --- a driver whose builds all fail (subprocess, as a user meets it) ----------------------------


def test_fake_driver_makes_opencl_unavailable_with_the_build_log_line():
    result = run_cli("backends", "--json", "-", env=FAKE_DRIVER)
    assert result.code == 0, result.err
    rows = [s for s in json.loads(result.out)["backends"] if s["backend"] == "opencl"]
    assert rows and not any(s["available"] for s in rows)
    for s in rows:
        assert ZEN5_ERROR in s["reason"] and "intel-opencl-rt" in s["reason"]  # the line and the fix
        assert s["unusable_devices"] and all(ZEN5_ERROR in d["reason"] for d in s["unusable_devices"])


def test_fake_driver_mine_is_one_line_exit_2():
    for spec in ("opencl", "opencl:0"):
        result = run_cli("mine", "--header", H.GENESIS, "--count", "1000", "--backend", spec, env=FAKE_DRIVER)
        assert_usage_error(result, ZEN5_ERROR)


def test_fake_driver_run_skips_opencl_lists_why_and_exits_0(tmp_path):
    result = run_cli("run", "--quick", "--workload", "sha256d", "--budget", "0.02", "--out", str(tmp_path / "r"),
                     env=FAKE_DRIVER)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    doc = load_run(tmp_path / "r" / "run.json")
    assert not any(r["backend"] == "opencl" for r in doc["results"])
    assert not doc["run"]["errors"]
    skipped = [s for s in doc["run"]["skipped_backends"] if s["backend"].startswith("opencl")]
    assert skipped and ZEN5_ERROR in skipped[0]["reason"]


def test_fake_driver_run_naming_opencl_is_exit_2(tmp_path):
    result = run_cli("run", "--quick", "--workload", "sha256d", "--backend", "opencl", "--out", str(tmp_path / "r"),
                     env=FAKE_DRIVER)
    assert_usage_error(result, ZEN5_ERROR)
    assert not (tmp_path / "r").exists()  # refused before anything ran


# --- one device that cannot build, the others can (in-process) ----------------------------------


@pytest.fixture
def second_device_broken(monkeypatch):
    """The real OpenCL devices, with every device but the first one failing its probe."""
    ok, why = runtime.available()
    if not ok:
        opencl_devices.checked(None) if opencl_devices.IN_CI else pytest.skip(why)
    survey = runtime.survey()
    first = runtime.devices()[0].index
    planted = tuple(p if p.info.index == first else runtime.Probe(p.info, p.handle, f"{p.info.driver}: planted: "
                                                                  f"error: {ZEN5_ERROR}") for p in survey)
    monkeypatch.setattr(runtime, "survey", lambda: planted)
    yield first, len(survey)


def test_a_broken_device_is_listed_and_refused_by_index(second_device_broken):
    first, total = second_device_broken
    assert [d.index for d in runtime.devices()] == [first]
    st = backends.status("sha256d", "opencl")
    assert st.available and [d.index for d in st.devices] == [first]
    assert [d.index for d, _ in st.unusable] == [i for i in range(total) if i != first]
    for d, why in st.unusable:
        with pytest.raises(UsageError, match=f"opencl:{d.index} .*cannot run sha256d here: .*{ZEN5_ERROR}"):
            backends.require("sha256d", f"opencl:{d.index}")
    assert [s.device.index for s in backends.require("sha256d", "opencl")] == [first]


def test_a_broken_device_goes_to_not_run_here(second_device_broken):
    first, total = second_device_broken
    skipped: list[dict] = []
    chosen = planner.select("sha256d", None, skipped)
    assert [s.device.index for s in chosen if s.backend == "opencl"] == [first]
    broken = [s for s in skipped if s["backend"].startswith("opencl:")]
    assert len(broken) == total - 1 and all(ZEN5_ERROR in s["reason"] for s in broken)


# --- the probe and what it reports --------------------------------------------------------------


def test_build_log_line_picks_the_error_line():
    exc = RuntimeError("clBuildProgram failed: BUILD_PROGRAM_FAILURE - clBuildProgram failed\n\nBuild on <dev>:\n\n"
                       "error: unknown target CPU 'generic'\nnote: valid target CPU values are: ...")
    assert runtime.build_log_line(exc) == "error: unknown target CPU 'generic'"
    assert runtime.build_log_line(RuntimeError("plain failure")) == "plain failure"


def test_every_device_here_passes_the_probe_it_was_admitted_by():
    if not runtime.available()[0]:
        pytest.skip(runtime.available()[1])
    for p in runtime.survey():
        if not p.problem:
            assert runtime.probe(p.handle) == ""


def test_ci_has_an_opencl_device_that_builds():
    """CI installs OpenCL CPU runtimes: with none that builds, CI must fail, never skip."""
    if not opencl_devices.IN_CI:
        pytest.skip("only CI promises an OpenCL CPU runtime (CI=true)")
    assert runtime.available()[0], runtime.available()[1]


# --- registering pip-installed runtimes ---------------------------------------------------------


def test_intel_runtime_is_registered_beside_the_system_icds(monkeypatch, tmp_path):
    lib = tmp_path / "libintelocl.so"
    lib.write_bytes(b"")
    system = tmp_path / "vendors"
    system.mkdir()
    (system / "nvidia.icd").write_text("libnvidia-opencl.so.1\n")
    monkeypatch.setattr(runtime, "intel_cpu_library", lambda: lib)
    monkeypatch.setattr(runtime, "SYSTEM_VENDORS", system)
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OCL_ICD_VENDORS", raising=False)
    monkeypatch.delenv("OCL_ICD_FILENAMES", raising=False)
    said = runtime._register()
    folder = Path(os.environ["OCL_ICD_VENDORS"])
    assert folder.is_relative_to(tmp_path / "cache") and "registered" in said
    assert (folder / "nvidia.icd").read_text() == "libnvidia-opencl.so.1\n"  # GPU drivers stay visible
    assert (folder / "sitebench-intel-cpu.icd").read_text().strip() == str(lib)
    monkeypatch.delenv("OCL_ICD_VENDORS")
    assert runtime._register() == said  # a second process: the same folder, the files as they were


def test_icds_chosen_by_the_user_are_left_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("OCL_ICD_VENDORS", str(tmp_path))
    monkeypatch.setattr(runtime, "intel_cpu_library", lambda: pytest.fail("must not look"))
    assert "chosen by the environment" in runtime._register()
    assert os.environ["OCL_ICD_VENDORS"] == str(tmp_path)


def test_no_intel_runtime_registers_nothing(monkeypatch):
    monkeypatch.delenv("OCL_ICD_VENDORS", raising=False)
    monkeypatch.delenv("OCL_ICD_FILENAMES", raising=False)
    monkeypatch.setattr(runtime, "intel_cpu_library", lambda: None)
    assert "not installed" in runtime._register()
    assert "OCL_ICD_VENDORS" not in os.environ


def test_cache_folder_falls_back_when_the_first_cannot_be_written(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache folder would go
    monkeypatch.delenv("SITEBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    assert cache.cache_dir("x").is_relative_to(tmp_path / "tmp")


# --- compile, launch and driver errors planted in every backend ---------------------------------

PLANTED = {
    "numba-cpu": lambda: __import__("numba").core.errors.TypingError("Failed in nopython mode pipeline (planted)"),
    "numba-cuda": lambda: RuntimeError("CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure (planted)"),
    "cupy": lambda: RuntimeError("nvrtc: error: failed to compile sha256d.cu (planted)"),
    "opencl": lambda: RuntimeError("clBuildProgram failed: BUILD_PROGRAM_FAILURE\n\nerror: planted\n(more log)"),
}


class _Failing:
    """A backend module that discovers one device and fails when asked to compute, as a broken build would."""

    def __init__(self, make_error):
        self.make_error = make_error
        self.__name__ = "planted"

    def available(self):
        return True, ""

    def devices(self):
        return [DeviceInfo(0, "planted device", "cpu")]

    def scan(self, *args, **kwargs):
        raise self.make_error()

    def hash_batch(self, *args, **kwargs):
        raise self.make_error()


@pytest.mark.parametrize("backend", sorted(PLANTED))
def test_mine_turns_a_backend_error_into_one_line(backend, monkeypatch, capsys):
    monkeypatch.setattr(backends, "module", lambda workload, name: _Failing(PLANTED[backend]))
    code = cli.main(["mine", "--header", H.GENESIS, "--count", "1000", "--backend", backend])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{backend}:0 failed" in lines[0] and "planted" in lines[0]


@pytest.mark.parametrize("backend", sorted(PLANTED))
def test_run_records_a_backend_error_and_keeps_the_reference(backend, monkeypatch, tmp_path):
    real = backends.module
    monkeypatch.setattr(backends, "module",
                        lambda workload, name: _Failing(PLANTED[backend]) if name == backend else real(workload, name))
    options = R.Options(workloads=["sha256d"], backends=[backend], quick=True, budget_s=0.02, out=str(tmp_path / "r"))
    with pytest.raises(VerificationError, match="planted"):
        R.run(options)
    doc = load_run(tmp_path / "r" / "run.json")
    assert [e["backend"] for e in doc["run"]["errors"]] and all(e["backend"] == backend for e in doc["run"]["errors"])
    assert any(r["is_reference"] and r["verified"] for r in doc["results"])  # hashlib still measured


def test_discovery_that_raises_becomes_a_reason(monkeypatch):
    class Exploding:
        def available(self):
            raise OSError("libcuda.so: cannot open shared object file\nsecond line")

    monkeypatch.setattr(backends, "import_if_present", lambda name: Exploding())
    st = backends.status("sha256d", "cupy")
    assert not st.available and st.reason == "cupy: OSError: libcuda.so: cannot open shared object file"


def test_unexpected_errors_are_one_line_exit_1(monkeypatch, capsys):
    def boom(args):
        raise np.linalg.LinAlgError("planted bug\nwith a second line")

    monkeypatch.setattr(cli.verb_module("backends"), "main", boom)
    monkeypatch.delenv("SITEBENCH_TRACEBACK", raising=False)
    assert cli.main(["backends"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error LinAlgError: planted bug" in err


def test_the_opencl_install_hint_fits_the_platform():
    """PyPI's OpenCL CPU runtimes are x86-64 Linux wheels: on Grace (aarch64 Linux) the hint is the system's
    PoCL, not a pip extra that installs no runtime there."""
    assert runtime.install_hint("x86_64", "Linux") == runtime.INSTALL_HINT
    arm = runtime.install_hint("aarch64", "Linux")
    assert "pocl-opencl-icd" in arm and "sitebench[opencl]" not in arm
    assert runtime.install_hint("arm64", "Darwin") == runtime.INSTALL_HINT
