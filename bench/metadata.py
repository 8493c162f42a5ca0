"""Run metadata: when, where and with what a run was made, so two run files can be told apart.

Everything here is best effort and cheap (well under a second): a probe that fails (no git, no NVML,
no CuPy) leaves its field empty or says why, and never stops a run.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

from kernels.runtime import cpu

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "numpy", "scipy", "numba", "llvmlite", "numba-cuda", "cupy-cuda13x", "cupy-cuda12x", "pyopencl",  # package names
    "nvidia-ml-py", "rich", "matplotlib", "pydantic", "threadpoolctl", "gguf", "tokenizers",
)


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def hostname() -> str:
    return socket.gethostname() or "unknown-host"


def folder_name(timestamp: _dt.datetime, host: str) -> str:
    """'20260112T093000Z-myhost': a report folder name that sorts by time and is safe on every OS."""
    safe_host = re.sub(r"[^A-Za-z0-9._-]+", "_", host)[:63] or "host"
    return f"{timestamp.strftime('%Y%m%dT%H%M%SZ')}-{safe_host}"


COMMIT_ENV = "SITEBENCH_COMMIT"


def git_commit() -> dict:
    """The checkout's commit and whether it had uncommitted changes; empty where there is no git.

    $SITEBENCH_COMMIT names the commit of a copy whose git metadata did not travel with it (a tree copied
    to a GPU machine, a CI artifact); its cleanliness is then unknown (None).
    """
    if os.environ.get(COMMIT_ENV):
        return {"commit": os.environ[COMMIT_ENV].strip(), "dirty": None}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def blas() -> list[dict]:
    """Which BLAS NumPy calls, and its kernel and threads (threadpoolctl)."""
    try:
        import numpy  # noqa: F401 - loads the BLAS so threadpoolctl can see it
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: info.get(k) for k in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # force an OpenBLAS kernel other than the CPU's own
_BLAS_PROBE = ("import json, numpy; from threadpoolctl import threadpool_info; "
               "print(json.dumps([i.get('architecture') for i in threadpool_info() if i.get('user_api') == 'blas']))")


def blas_check(found: list[dict] | None = None) -> dict:
    """The OpenBLAS kernel NumPy runs here against the one this CPU gets without overrides, and a warning
    where they differ: `OPENBLAS_CORETYPE=Haswell` on an AVX-512 CPU halved SGEMM (221 vs 420 GFLOP/s on a
    Zen 5), which inflates every ratio to the BLAS baseline. The CPU's own kernel is read in a child
    process with the overrides removed (only when an override is set)."""
    found = blas() if found is None else found
    running = next((b.get("architecture") for b in found if b.get("internal_api") == "openblas"), None)
    overrides = {k: os.environ[k] for k in BLAS_OVERRIDES if os.environ.get(k)}
    check = {"kernel": running, "overrides": overrides, "native_kernel": running, "warning": ""}
    if running is None or not overrides:
        return check
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    try:
        out = subprocess.run([sys.executable, "-c", _BLAS_PROBE], env=env, capture_output=True, text=True,
                             timeout=60, check=True).stdout
        native = next(iter(json.loads(out)), None)
    except (OSError, subprocess.SubprocessError, ValueError):
        native = None
    check["native_kernel"] = native
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items())
    if native is None:
        check["warning"] = (f"{settings} is set: OpenBLAS may run another kernel than this CPU's best (which could "
                            "not be read), so ratios to the numpy baseline may be inflated")
    elif str(native).lower() != str(running).lower():
        check["warning"] = (f"{settings} makes OpenBLAS run its {running} kernel instead of this CPU's {native}: "
                            "the numpy baseline is slower than a user's would be, so ratios to it are inflated; "
                            "unset the variable to compare against the BLAS a user has")
    return check


def gpus() -> list[dict]:
    """GPU names, memory and driver from NVML; from CuPy where NVML is absent; [] on a machine without."""
    found = _nvml_gpus()
    return found if found else _cupy_gpus()


def _nvml_gpus() -> list[dict]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver, no permission: simply no NVML here
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        found = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            found.append({
                "index": i,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                "driver": driver,
                "source": "nvml",
            })
        return found
    except Exception:  # noqa: BLE001
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _cupy_gpus() -> list[dict]:
    from kernels.runtime import cuda

    if not cuda.cupy_status()[0]:
        return []
    return [
        {"index": d.index, "name": d.name, "memory_bytes": d.memory_bytes, "driver": d.driver,
         "compute": d.compute, "source": "cupy"}  # library name
        for d in cuda.cupy_devices()
    ]


def opencl_runtimes() -> dict:
    """Which OpenCL runtimes were registered and which devices build here (it changes between machines)."""
    from kernels.runtime import opencl

    ok, why = opencl.available()
    return {
        "registration": opencl.register_runtimes() if ok or "pyopencl is not installed" not in why else "",
        "devices": [{"index": d.index, "name": d.name, "driver": d.driver} for d in opencl.devices()],
        "unusable": [{"index": d.index, "name": d.name, "driver": d.driver, "reason": r} for d, r in opencl.unusable()],
        "reason": why,
    }


def thread_settings() -> dict:
    """The OpenMP/Numba settings the suite's kernels ran under (kernels/numba_env.py; a user's own win),
    and Numba's threading layer once a parallel kernel has run: they decide how fast few-core work is."""
    from kernels import numba_env

    settings = {name: os.environ.get(name) for name in numba_env.SETTINGS if name != "NUMBA_CPU_FEATURES"}
    try:
        import numba

        settings["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        settings["numba_threading_layer"] = None
    return settings


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none): a busy machine skews every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def collect(timestamp: _dt.datetime | None = None) -> dict:
    """The `run` section of a run file (DESIGN.md): everything that identifies the machine and code."""
    timestamp = timestamp or utc_now()
    return {
        "timestamp": timestamp.isoformat(),
        "git": git_commit(),
        "hostname": hostname(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "cpu": {
            "model": cpu.cpu_model(),
            "machine": platform.machine(),
            "cores": cpu.usable_cores(),
            "memory_bytes": cpu.memory_bytes(),
            "flags": list(cpu.cpu_flags()),
        },
        "vector_bits": cpu.vector_bits(),
        "gpus": gpus(),
        "blas": (found_blas := blas()),
        "blas_check": blas_check(found_blas),
        "opencl_runtimes": opencl_runtimes(),
        "thread_settings": thread_settings(),
        "load_average": load_average(),
        "packages": package_versions(),
    }
