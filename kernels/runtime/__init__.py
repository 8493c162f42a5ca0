"""Device runtimes shared by the backends of every workload: discovery, contexts, compiled-code caches.

These are platforms (OpenCL, CUDA), not backends: `kernels/sha256/opencl.py` and `kernels/gemm/opencl.py`
both use `kernels.runtime.opencl`, and no backend imports another backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field


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


@dataclass(frozen=True)
class Traits:
    """What the harness needs to know about a backend, declared by the backend's own file (never guessed
    from its name): the kind of device it runs on, how it is timed and metered, how its operands live, and
    which kernel runs."""

    device_kind: str  # "cpu" | "gpu" | "any" (OpenCL: each device says what it is)
    kernel: str = ""  # what runs, for the report
    kernel_by_device: Mapping[str, str] = field(default_factory=dict)  # device kind -> kernel, where it differs
    event_timer: Callable[[int], object] | None = None  # GPU devices: events on that device index
    cuda: bool = False  # a CUDA device: NVML finds it by index where no PCI address is known
    resident_operands: bool = False  # GEMM: operands made resident on the device before timing
    own_kernel: str | None = None  # GEMM: the `kernel=` argument that selects the backend's own kernel
    run_dtypes: tuple[str, ...] = ()  # GEMM: the dtypes its own kernel is run in (empty: all it offers)
    reference_for: str | None = None  # "cpu" / "gpu": it is the vendor baseline for that kind of device
    reference_name: str = ""  # the baseline's name in results ("numpy", "cublas")
    reference_kernel: str | None = None  # the `kernel=` argument of that baseline
    reference_only: bool = False  # runs only as the baseline, never as a backend case

    def describe(self, device_kind: str) -> str:
        return self.kernel_by_device.get(device_kind, self.kernel)


def parse_device_index(index, devices: list[DeviceInfo], backend: str) -> int:
    """Check a device index against the devices found; ValueError names the valid ones."""
    if not devices:
        raise ValueError(f"{backend}: no device found")
    if not isinstance(index, int) or index not in {d.index for d in devices}:
        valid = ", ".join(f"{backend}:{d.index}" for d in devices)
        raise ValueError(f"{backend}: no device {index}; devices here: {valid}")
    return index


def first_line(exc: BaseException) -> str:
    """An exception's message in one line: driver errors can span pages (a build log after the first line),
    so the first line is kept with the log's first 'error' line, where there is one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    detail = next((line for line in lines[1:] if line.lower().startswith("error")), "")
    return f"{lines[0]} ({detail[:200]})" if detail else lines[0]
