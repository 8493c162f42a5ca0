"""OpenCL through PyOpenCL: drivers registered, devices probed, one context and queue per device, programs cached.

- Registration. Intel's CPU runtime for OpenCL from PyPI (`intel-opencl-rt`) ships its ICD file with a
  placeholder path, so the ICD loader never finds it. Where it is installed, and the user has not chosen ICDs
  (`OCL_ICD_VENDORS` / `OCL_ICD_FILENAMES`), a vendors folder in the suite's cache lists it beside the system's
  own ICD files (GPU drivers stay visible) and `OCL_ICD_VENDORS` points there before pyopencl loads.
  PoCL from PyPI registers itself through pyopencl and stays available where it builds.
- Probing. A device counts only if it builds and runs a one-line kernel, checked once per process. PoCL 3.0
  (LLVM 14) builds nothing on CPUs newer than its LLVM (AMD Zen 5: "unknown target CPU 'generic'"); such a
  device is listed by `unusable()` with the first line of its build log, its driver and the fix.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.runtime import DeviceInfo, cache

INSTALL_HINT = 'pip install "sitebench[opencl]" (an OpenCL CPU runtime: Intel\'s on x86-64 Linux, PoCL); GPU vendors ship their own ICD'
FIX_HINT = ("install Intel's CPU runtime for OpenCL (pip install intel-opencl-rt intel-cmplr-lib-rt, x86-64 Linux) "
            "or a driver whose compiler knows this CPU")

PROBE_SOURCE = "__kernel void probe(__global uint *x) { const uint i = get_global_id(0); x[i] = 3u * i + 1u; }"
PROBE_ITEMS = 64
SYSTEM_VENDORS = Path("/etc/OpenCL/vendors")
INTEL_RUNTIME = "intel-opencl-rt"

_lock = threading.Lock()
_register_lock = threading.Lock()
_programs: dict[tuple[int, str, str], object] = {}
_registered: list[str] = []  # what register_runtimes() did, once per process


def install_hint(machine: str | None = None, system: str | None = None) -> str:
    """How to get an OpenCL CPU runtime here: PyPI has them for x86-64 Linux only (Grace, other Arm Linux:
    the system's PoCL)."""
    machine = (machine or platform.machine()).lower()
    system = system or platform.system()
    if system != "Linux" or machine in ("x86_64", "amd64"):
        return INSTALL_HINT
    return (f"PyPI has no OpenCL CPU runtime for {machine} Linux: install PoCL from the system's packages "
            "(apt install pocl-opencl-icd, dnf install pocl) and pip install pyopencl; GPU vendors ship their own ICD")


# --- registration -------------------------------------------------------------------------------


def intel_cpu_library() -> Path | None:
    """The installed `libintelocl.so` of the intel-opencl-rt wheel, or None where it is not installed."""
    try:
        files = importlib.metadata.distribution(INTEL_RUNTIME).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libintelocl.so":
            path = Path(f.locate()).resolve()
            return path if path.is_file() else None
    return None


def _system_icds() -> dict[str, str]:
    """The ICD files the loader would read by default (name -> contents), so registering ours hides none."""
    found = {}
    try:
        entries = sorted(SYSTEM_VENDORS.glob("*.icd"))
    except OSError:
        return found
    for entry in entries:
        try:
            found[entry.name] = entry.read_text(encoding="utf-8")
        except OSError:
            continue
    return found


def register_runtimes() -> str:
    """Make pip-installed OpenCL runtimes visible to the ICD loader; says what it did (for the run metadata)."""
    with _register_lock:
        if _registered:
            return _registered[0]
        _registered.append(_register())
        return _registered[0]


def _register() -> str:
    if os.environ.get("OCL_ICD_VENDORS") or os.environ.get("OCL_ICD_FILENAMES"):
        return "ICDs chosen by the environment (OCL_ICD_VENDORS / OCL_ICD_FILENAMES)"
    library = intel_cpu_library()
    if library is None:
        return "system and pyopencl ICDs only (intel-opencl-rt not installed)"
    icds = {**_system_icds(), "sitebench-intel-cpu.icd": f"{library}\n"}
    key = hashlib.sha256(repr(sorted(icds.items())).encode()).hexdigest()[:12]
    try:
        folder = cache.cache_dir(f"opencl-vendors/{key}")
        for name, text in icds.items():
            cache.write_if_changed(folder / name, text)
    except OSError as exc:
        return f"intel-opencl-rt installed but not registered: {exc}"
    os.environ["OCL_ICD_VENDORS"] = str(folder)
    return f"Intel CPU runtime registered from {library} (OCL_ICD_VENDORS={folder})"


def pyopencl():
    """The pyopencl module, imported after the pip-installed runtimes are registered."""
    register_runtimes()
    import pyopencl as cl

    return cl


# --- probing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One OpenCL device as found: its description, its pyopencl handle, why it cannot run ("" if it can)."""

    info: DeviceInfo
    handle: object
    problem: str = ""


def build_log_line(exc: BaseException) -> str:
    """The line of a build failure worth showing: the first 'error' line of the log, else the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() and "clbuildprogram failed" not in line.lower():
            return line[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def probe(handle) -> str:
    """'' if the device builds and runs a one-line kernel correctly, else why not (one line)."""
    cl = pyopencl()
    try:
        ctx = cl.Context([handle])
        queue = cl.CommandQueue(ctx, handle)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cl.CompilerWarning)
            prog = cl.Program(ctx, PROBE_SOURCE).build()
        out = np.zeros(PROBE_ITEMS, np.uint32)
        buf = cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, out.nbytes)
        prog.probe(queue, (PROBE_ITEMS,), None, buf)
        cl.enqueue_copy(queue, out, buf)
    except Exception as exc:  # noqa: BLE001 - drivers fail in many types; each becomes a reason
        return f"cannot build a one-line kernel: {build_log_line(exc)}"
    if not np.array_equal(out, 3 * np.arange(PROBE_ITEMS, dtype=np.uint32) + 1):
        return "a one-line kernel built but computed wrong values"
    return ""


def _describe(index: int, d) -> DeviceInfo:
    cl = pyopencl()
    kind = "gpu" if d.type & cl.device_type.GPU else "cpu" if d.type & cl.device_type.CPU else "other"
    return DeviceInfo(
        index=index,
        name=d.name.strip(),
        kind=kind,
        memory_bytes=int(d.global_mem_size),
        compute=d.version.strip(),
        driver=f"{d.platform.name.strip()} {d.driver_version.strip()}",
        units=int(d.max_compute_units),
        pci_bus_id=_nvidia_pci_bus_id(d),
    )


@lru_cache(maxsize=1)
def survey() -> tuple[Probe, ...]:
    """Every device of every platform, probed once per process (indices are stable: the platform order)."""
    cl = pyopencl()
    handles = []
    for cl_platform in cl.get_platforms():
        try:
            handles.extend(cl_platform.get_devices())
        except cl.Error:  # a platform with no devices raises instead of returning []
            continue
    found = []
    for i, handle in enumerate(handles):
        info = _describe(i, handle)
        problem = probe(handle)
        if problem:
            problem = f"{info.driver}: {problem}"
        found.append(Probe(info, handle, problem))
    return tuple(found)


def available() -> tuple[bool, str]:
    try:
        pyopencl()
    except ImportError as exc:
        return False, f"pyopencl is not installed ({exc}); {install_hint()}"
    try:
        probes = survey()
    except Exception as exc:  # noqa: BLE001 - ICD loader errors come in many types
        return False, f"no OpenCL platform found ({build_log_line(exc)}); {install_hint()}"
    if not probes:
        return False, f"no OpenCL device found; {install_hint()}"
    if all(p.problem for p in probes):
        return False, "no OpenCL device can build a kernel here: " + " | ".join(
            f"opencl:{p.info.index} {p.info.name}: {p.problem}" for p in probes) + f"; {FIX_HINT}"
    return True, ""


def devices() -> list[DeviceInfo]:
    """The devices that build and run kernels here."""
    ok, _ = available()
    return [p.info for p in survey() if not p.problem] if ok else []


def unusable() -> list[tuple[DeviceInfo, str]]:
    """The devices found that cannot run kernels here, each with why (and the fix)."""
    try:
        pyopencl()
        return [(p.info, f"{p.problem}; {FIX_HINT}") for p in survey() if p.problem]
    except Exception:  # noqa: BLE001 - no pyopencl / no platform: available() says why
        return []


def _nvidia_pci_bus_id(d) -> str:
    """PCI address of an NVIDIA OpenCL device (cl_nv_device_attribute_query), so NVML can meter it."""
    if "cl_nv_device_attribute_query" not in d.extensions:
        return ""
    try:
        bus, slot = int(d.pci_bus_id_nv), int(d.pci_slot_id_nv)
    except Exception:  # noqa: BLE001 - older drivers/pyopencl lack the query
        return ""
    return f"0000:{bus:02x}:{slot >> 3:02x}.{slot & 7}"


def device(index: int = 0):
    """The pyopencl.Device `opencl:index`; ValueError naming the valid ones, or why this one cannot run."""
    probes = survey() if available()[0] else ()
    for p in probes:
        if p.info.index == index and isinstance(index, int):
            if p.problem:
                raise ValueError(f"opencl:{index} cannot run here: {p.problem}; {FIX_HINT}")
            return p.handle
    valid = ", ".join(f"opencl:{p.info.index}" for p in probes if not p.problem) or "none"
    raise ValueError(f"opencl: no device {index}; devices here: {valid}")


def platform_kind(index: int = 0) -> str:
    """'intel', 'pocl' or 'other': which compiler builds for this device (kernel variants follow it)."""
    name = device(index).platform.name.lower()
    if "portable computing language" in name or "pocl" in name:
        return "pocl"
    if "intel" in name:
        return "intel"
    return "other"


def is_cpu(index: int = 0) -> bool:
    return bool(device(index).type & pyopencl().device_type.CPU)


@lru_cache(maxsize=None)
def context_and_queue(index: int = 0):
    """One (context, queue) per device, created on first use; profiling enabled for event timing."""
    cl = pyopencl()
    dev = device(index)
    ctx = cl.Context([dev])
    queue = cl.CommandQueue(ctx, dev, properties=cl.command_queue_properties.PROFILING_ENABLE)
    return ctx, queue


def program(index: int, source: str, options: str = ""):
    """Build `source` for device `index` once per process; PoCL also caches binaries on disk."""
    key = (index, hashlib.sha256(source.encode()).hexdigest(), options)
    with _lock:
        prog = _programs.get(key)
        if prog is None:
            ctx, _ = context_and_queue(index)
            cl = pyopencl()
            with warnings.catch_warnings():  # build logs are chatty; a failed build still raises
                warnings.simplefilter("ignore", cl.CompilerWarning)
                prog = cl.Program(ctx, source).build(options=options)
            _programs[key] = prog
    return prog
