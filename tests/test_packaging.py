"""The package installs anywhere: every requirement resolves to wheels on aarch64 Linux (Grace GPU nodes) and
macOS, and a wheel built from the checkout runs from outside it with its profiles.

pip evaluates environment markers against the running interpreter, not `--platform`, so the markers of
pyproject.toml are evaluated here for each target and only the requirements that apply are resolved.
These tests use the package index (as CI's install does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.cli import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TARGETS = {
    "linux-aarch64": (["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
                      {"platform_machine": "aarch64", "sys_platform": "linux", "platform_system": "Linux"},
                      ("test", "cuda", "mpi", "models")),
    "macos-arm64": (["macosx_14_0_arm64"], {"platform_machine": "arm64", "sys_platform": "darwin",
                                            "platform_system": "Darwin"}, ("test",)),
}


def requirements_for(environment: dict, extras: tuple[str, ...]) -> list[str]:
    """The project's requirements (core + extras, self-references expanded) whose markers hold there."""
    project = PYPROJECT["project"]
    pending = list(project["dependencies"]) + [r for e in extras for r in project["optional-dependencies"][e]]
    found, seen = [], set()
    while pending:
        req = Requirement(pending.pop(0))
        env = {**environment, "python_version": "3.11", "extra": ""}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        if req.name == project["name"]:
            pending += [r for e in req.extras if e not in seen for r in project["optional-dependencies"][e]]
            seen |= req.extras
            continue
        req.marker = None
        found.append(str(req))
    return found


def test_markers_keep_x86_only_runtimes_off_arm():
    arm = requirements_for(TARGETS["linux-aarch64"][1], ("test",))
    assert not any(r.startswith(("pocl-binary-distribution", "intel-opencl-rt", "intel-cmplr")) for r in arm)
    x86 = requirements_for({"platform_machine": "x86_64", "sys_platform": "linux", "platform_system": "Linux"},
                           ("test",))
    assert any(r.startswith("pocl-binary-distribution") for r in x86)
    assert any(r.startswith("intel-opencl-rt") for r in x86)


def resolve(target: str, folder: Path) -> subprocess.Popen:
    """pip resolving the target's requirements to wheels for it (a dry run), started in the background."""
    platforms, environment, extras = TARGETS[target]
    reqs = requirements_for(environment, extras)
    (folder / "req.txt").write_text("\n".join(reqs) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--target", str(folder / "t"),
           "-r", str(folder / "req.txt"), "--quiet"]
    for p in platforms:
        cmd += ["--platform", p]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """Every target's resolution, all started at once: each mostly waits on the package index."""
    procs = {target: resolve(target, tmp_path_factory.mktemp(target)) for target in sorted(TARGETS)}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:  # a test that did not run (deselected) or timed out
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_requirement_has_a_wheel_for(target, resolutions):
    proc = resolutions[target]
    _, stderr = proc.communicate(timeout=600)
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0, f"{target}: " + " | ".join(errors or stderr.splitlines()[-3:])


@pytest.mark.slow
def test_a_wheel_install_runs_from_outside_the_checkout(tmp_path):
    """`pip install .` (not -e): the profiles come along and both entry points work from /tmp."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels),
                    str(ROOT), "--quiet"], check=True, timeout=600, capture_output=True)
    wheel = next(wheels.glob("sitebench-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this environment's site-packages, listed on the path (not processed as a site
    # folder, so this checkout's editable-install hook stays out).
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    Path(site, "deps-from-test-env.pth").write_text(here + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True, timeout=600,
                   capture_output=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SITEBENCH_PROFILES")}
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for args in (["-m", "bench", "economics", "--json", "-"], ["-m", "bench", "profiles"], ["-m", "bench", "--version"]):
        proc = subprocess.run([python, "-I", *args], cwd=outside, env=clean, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "site-packages" not in proc.stderr
    script = env_dir / "bin" / "sitebench"
    proc = subprocess.run([script, "--version"], cwd=outside, env=clean, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().startswith("sitebench ")
    located = subprocess.run([python, "-I", "-c", "import bench, hardware_profiles; print(bench.__file__); "
                              "print(hardware_profiles.__file__)"], cwd=outside, env=clean, capture_output=True,
                             text=True, check=True).stdout
    assert str(ROOT) not in located  # really the installed copy, not the checkout
