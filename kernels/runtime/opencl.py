"""OpenCL through PyOpenCL: device list, one context and queue per device, programs cached per device."""

from __future__ import annotations

import hashlib
import threading
import warnings
from functools import lru_cache

from kernels.runtime import DeviceInfo, parse_device_index

INSTALL_HINT = 'pip install "pyopencl[pocl]" (PoCL gives a CPU device; GPU vendors ship their own ICD)'

_lock = threading.Lock()
_programs: dict[tuple[int, str, str], object] = {}


def _cl():
    import pyopencl as cl

    return cl


@lru_cache(maxsize=1)
def _device_handles() -> tuple:
    cl = _cl()
    found = []
    for platform in cl.get_platforms():
        try:
            found.extend(platform.get_devices())
        except cl.Error:  # a platform with no devices raises instead of returning []
            continue
    return tuple(found)


def available() -> tuple[bool, str]:
    try:
        import pyopencl  # noqa: F401
    except ImportError as exc:
        return False, f"pyopencl is not installed ({exc}); {INSTALL_HINT}"
    try:
        handles = _device_handles()
    except Exception as exc:  # noqa: BLE001 - ICD loader errors come in many types
        return False, f"no OpenCL platform found ({exc}); {INSTALL_HINT}"
    if not handles:
        return False, f"no OpenCL device found; {INSTALL_HINT}"
    return True, ""


def devices() -> list[DeviceInfo]:
    ok, _ = available()
    if not ok:
        return []
    cl = _cl()
    result = []
    for i, d in enumerate(_device_handles()):
        kind = "gpu" if d.type & cl.device_type.GPU else "cpu" if d.type & cl.device_type.CPU else "other"
        result.append(
            DeviceInfo(
                index=i,
                name=d.name.strip(),
                kind=kind,
                memory_bytes=int(d.global_mem_size),
                compute=d.version.strip(),
                driver=f"{d.platform.name.strip()} {d.driver_version.strip()}",
                units=int(d.max_compute_units),
                pci_bus_id=_nvidia_pci_bus_id(d),
            )
        )
    return result


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
    """The pyopencl.Device at `index` of `devices()`."""
    parse_device_index(index, devices(), "opencl")
    return _device_handles()[index]


def is_cpu(index: int = 0) -> bool:
    return bool(device(index).type & _cl().device_type.CPU)


@lru_cache(maxsize=None)
def context_and_queue(index: int = 0):
    """One (context, queue) per device, created on first use; profiling enabled for event timing."""
    cl = _cl()
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
            cl = _cl()
            with warnings.catch_warnings():  # PoCL's build log is chatty; a failed build still raises
                warnings.simplefilter("ignore", cl.CompilerWarning)
                prog = cl.Program(ctx, source).build(options=options)
            _programs[key] = prog
    return prog
