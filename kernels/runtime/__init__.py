"""Device runtimes shared by the backends of every workload: discovery, contexts, compiled-code caches.

These are platforms (OpenCL, CUDA), not backends: `kernels/sha256/opencl.py` and `kernels/gemm/opencl.py`
both use `kernels.runtime.opencl`, and no backend imports another backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DeviceInfo:
    """One device a backend can run on, as `bench backends` lists it."""

    index: int
    name: str
    kind: str  # "cpu" | "gpu" | "simulator"
    memory_bytes: int | None = None
    compute: str = ""  # compute capability ("sm_90") or OpenCL version
    driver: str = ""
    units: int | None = None  # multiprocessors / compute units / cores
    pci_bus_id: str = ""  # "0000:1b:00.0" where known: how NVML finds the same GPU whatever the index

    def to_dict(self) -> dict:
        return asdict(self)


def parse_device_index(index, devices: list[DeviceInfo], backend: str) -> int:
    """Check a device index against the devices found; ValueError names the valid ones."""
    if not devices:
        raise ValueError(f"{backend}: no device found")
    if not isinstance(index, int) or index not in {d.index for d in devices}:
        valid = ", ".join(f"{backend}:{d.index}" for d in devices)
        raise ValueError(f"{backend}: no device {index}; devices here: {valid}")
    return index
