"""The OpenCL devices every OpenCL test runs on: each device here that builds a kernel.

Outside CI a machine without a working OpenCL driver skips these tests with the reason. With CI=true the
tests fail instead: CI installs an OpenCL CPU runtime (PoCL, and Intel's on x86-64 Linux), so no buildable
device there means a broken driver, which must never pass as "skipped".
"""

from __future__ import annotations

import os

import pytest

from kernels.runtime import opencl as runtime

IN_CI = os.environ.get("CI", "").lower() == "true"


def _short(driver: str) -> str:
    return "pocl" if "portable" in driver.lower() else driver.split()[0].lower().strip("()r")


def params() -> list:
    """pytest params: one per buildable device (its index), or one that skips (or fails in CI) with why."""
    ok, why = runtime.available()
    if ok:
        return [pytest.param(d.index, id=f"opencl{d.index}-{_short(d.driver)}") for d in runtime.devices()]
    return [pytest.param(None, id="no-opencl-device", marks=() if IN_CI else pytest.mark.skip(reason=why))]


def checked(index):
    """The device index a test got, or the failure CI must report when no OpenCL device builds."""
    if index is None:
        pytest.fail(f"CI=true and no OpenCL device builds a kernel: {runtime.available()[1]}")
    return index
