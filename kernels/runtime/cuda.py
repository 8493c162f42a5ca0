"""CUDA through CuPy and through Numba: availability with the reason, and the devices each sees."""

from __future__ import annotations

import os
from functools import lru_cache

from kernels.runtime import DeviceInfo

CUPY_HINT = "pip install -e '.[cuda]' on a machine with an NVIDIA GPU and driver"
CUBLAS_HINT = "pip install 'cuda-toolkit[cublas]==13.*' (part of pip install -e '.[cuda]') or install the CUDA toolkit"
NUMBA_CUDA_HINT = "pip install -e '.[cuda]' (numba-cuda) on a machine with an NVIDIA GPU and driver"


def pci_bus_id(text: str) -> str:
    """A PCI address in one form, "0000:1b:00.0", from CUDA's "0000:1B:00.0", NVML's "00000000:1B:00.0"..."""
    domain, bus, rest = text.strip().split(":")
    device, _, function = rest.partition(".")
    return f"{int(domain, 16):04x}:{int(bus, 16):02x}:{int(device, 16):02x}.{int(function or '0', 16):x}"


def simulator_enabled() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@lru_cache(maxsize=1)
def cupy_status() -> tuple[bool, str]:
    try:
        import cupy
    except ImportError as exc:
        return False, f"cupy is not installed ({exc}); {CUPY_HINT}"
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install raises many types
        return False, f"cupy failed to import ({exc}); {CUPY_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        return False, f"cupy: no CUDA device found ({exc})"
    if count == 0:
        return False, "cupy: no CUDA device found"
    return True, ""


def cupy_devices() -> list[DeviceInfo]:
    """CuPy's devices, discovered once per process: kernels check the index on every call, and
    cudaGetDeviceProperties is far too slow for a timed loop."""
    return list(_cupy_devices())


@lru_cache(maxsize=1)
def _cupy_devices() -> tuple[DeviceInfo, ...]:
    ok, _ = cupy_status()
    if not ok:
        return ()
    import cupy

    runtime = cupy.cuda.runtime
    driver = runtime.driverGetVersion()
    result = []
    for i in range(runtime.getDeviceCount()):
        props = runtime.getDeviceProperties(i)
        bus = pci_bus_id(str(cupy.cuda.Device(i).pci_bus_id))
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        result.append(
            DeviceInfo(
                index=i,
                name=name,
                kind="gpu",
                memory_bytes=int(props["totalGlobalMem"]),
                compute=f"sm_{props['major']}{props['minor']}",
                driver=f"CUDA driver {driver // 1000}.{driver % 1000 // 10}",
                units=int(props["multiProcessorCount"]),
                pci_bus_id=bus,
            )
        )
    return tuple(result)


@lru_cache(maxsize=1)
def cublas_status() -> tuple[bool, str]:
    """Whether CuPy can load cuBLAS (CuPy 14 loads the library on first import of its wrapper)."""
    ok, reason = cupy_status()
    if not ok:
        return ok, reason
    try:
        from cupy.cuda import cublas  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or the library loader's own error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"cupy: cuBLAS not found ({first}); {CUBLAS_HINT}"
    return True, ""


@lru_cache(maxsize=1)
def numba_cuda_status() -> tuple[bool, str]:
    try:
        from numba import cuda
    except ImportError as exc:
        return False, f"numba.cuda is not importable ({exc}); {NUMBA_CUDA_HINT}"
    if simulator_enabled():
        return True, ""
    try:
        if not cuda.is_available():
            return False, "numba-cuda: no CUDA device found (set NUMBA_ENABLE_CUDASIM=1 for the slow simulator)"
    except Exception as exc:  # noqa: BLE001
        return False, f"numba-cuda: CUDA driver not usable ({exc})"
    return True, ""


def numba_cuda_devices() -> list[DeviceInfo]:
    """Numba's devices, discovered once per process (listing them makes each device's context current)."""
    return list(_numba_cuda_devices())


@lru_cache(maxsize=1)
def _numba_cuda_devices() -> tuple[DeviceInfo, ...]:
    ok, _ = numba_cuda_status()
    if not ok:
        return ()
    from numba import cuda

    if simulator_enabled():
        return (DeviceInfo(0, "Numba CUDA simulator (runs on the CPU)", "simulator", None, "simulated", ""),)
    result = []
    for i, dev in enumerate(cuda.list_devices()):
        with dev:
            ctx_dev = cuda.get_current_device()
            cc = ctx_dev.compute_capability
            bus = pci_bus_id(f"{ctx_dev.PCI_DOMAIN_ID:x}:{ctx_dev.PCI_BUS_ID:x}:{ctx_dev.PCI_DEVICE_ID:x}.0")
            free, total = cuda.current_context().get_memory_info()
            result.append(
                DeviceInfo(
                    index=i,
                    name=ctx_dev.name.decode() if isinstance(ctx_dev.name, bytes) else str(ctx_dev.name),
                    kind="gpu",
                    memory_bytes=int(total),
                    compute=f"sm_{cc[0]}{cc[1]}",
                    driver="",
                    units=int(ctx_dev.MULTIPROCESSOR_COUNT),
                    pci_bus_id=bus,
                )
            )
    return tuple(result)
