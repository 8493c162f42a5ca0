"""Discovery: which backend works on which device here, and why not.

A backend is a file, `kernels/<workload package>/<module>.py`, found by name; adding a backend means
adding a file and its name below. Every backend module exposes `available() -> (bool, reason)` and
`devices() -> list[DeviceInfo]` (the devices that really run kernels: OpenCL probes each with a build), and
may expose `unusable_devices() -> [(DeviceInfo, reason)]` for devices found that cannot; it imports its
optional packages lazily, so a missing package makes that backend unavailable with its reason and never
breaks the others. Any exception from a backend's discovery becomes a reason, never a traceback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from bench.errors import UsageError
from kernels.runtime import DeviceInfo, first_line

BACKENDS = ("numpy", "numba-cpu", "numba-cuda", "cupy", "opencl")
MODULES = {
    "numpy": "numpy_blas",
    "numba-cpu": "numba_cpu",
    "numba-cuda": "numba_cuda",
    "cupy": "cupy_cuda",
    "opencl": "opencl",
}
DEFAULT_CPU = "numba-cpu"  # what `bench mine` runs when no --backend is given: the fastest CPU scan
WORKLOADS = ("sha256d", "gemm", "inference")
# Inference runs its matrix products on the GEMM backends, so it shares their modules.
PACKAGES = {"sha256d": "kernels.sha256", "gemm": "kernels.gemm", "inference": "kernels.gemm"}


@dataclass
class BackendStatus:
    backend: str
    workload: str
    available: bool
    reason: str = ""
    devices: list[DeviceInfo] = field(default_factory=list)
    unusable: list[tuple[DeviceInfo, str]] = field(default_factory=list)  # found, but cannot run: why
    has_kernel: bool = True  # False: the backend has no file for this workload (not news in a report)

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "workload": self.workload,
            "available": self.available,
            "reason": self.reason,
            "devices": [d.to_dict() for d in self.devices],
            "unusable_devices": [{**d.to_dict(), "reason": why} for d, why in self.unusable],
        }


def parse_spec(spec: str) -> tuple[str, int | None]:
    """'opencl:1' -> ('opencl', 1); 'cupy' -> ('cupy', None). UsageError for unknown names."""
    name, sep, index = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {spec!r}; choose one of {', '.join(BACKENDS)} (optionally NAME:INDEX)")
    if not sep:
        return name, None
    if not index.isdigit():
        raise UsageError(f"bad device index in {spec!r}; write BACKEND:INDEX with INDEX a number, e.g. opencl:0")
    return name, int(index)


def import_if_present(name: str) -> ModuleType | None:
    """The module, or None where its file does not exist; errors inside an existing module still raise."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def module(workload: str, backend: str) -> ModuleType | None:
    """The backend's module for this workload, or None where the backend has no such kernel."""
    if workload not in WORKLOADS:
        raise UsageError(f"unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")
    return import_if_present(f"{PACKAGES[workload]}.{MODULES[backend]}")


def status(workload: str, backend: str) -> BackendStatus:
    mod = module(workload, backend)
    if mod is None:
        return BackendStatus(backend, workload, False, f"{backend} has no {workload} kernel", has_kernel=False)
    try:
        ok, reason = mod.available()
        found = list(mod.devices()) if ok else []
        unusable = list(getattr(mod, "unusable_devices", list)())
    except Exception as exc:  # noqa: BLE001 - a broken driver must not break discovery
        return BackendStatus(backend, workload, False, f"{backend}: {type(exc).__name__}: {first_line(exc)}")
    if ok and not found:
        return BackendStatus(backend, workload, False, f"{backend}: no device found", unusable=unusable)
    return BackendStatus(backend, workload, ok, reason, found, unusable)


def failure(label: str, exc: BaseException) -> UsageError:
    """A backend's compile, launch or driver error as the one-line UsageError (exit 2) the CLI prints."""
    return UsageError(f"{label} failed: {type(exc).__name__}: {first_line(exc)}; "
                      "`python -m bench backends` shows what runs here, or choose another --backend")


def reference_module(workload: str, device_kind: str) -> ModuleType | None:
    """The available backend module whose traits make it the vendor baseline for a kind of device."""
    for backend in BACKENDS:
        mod = module(workload, backend)
        if mod is not None and getattr(mod.TRAITS, "reference_for", None) == device_kind:
            try:
                if mod.available()[0]:
                    return mod
            except Exception:  # noqa: BLE001 - a broken driver: no baseline, never a crash
                return None
    return None


def runs_on_cuda(name: str) -> bool:
    """Whether results named `name` (a backend, or a baseline such as cuBLAS) come from CUDA devices, whose
    NVML index is known even without a PCI address. Answered from the backends' own traits."""
    for workload in WORKLOADS:
        for backend in BACKENDS:
            mod = module(workload, backend)
            traits = getattr(mod, "TRAITS", None)
            if traits is not None and name in (backend, traits.reference_name) and traits.cuda:
                return True
    return False


def discover(workloads=WORKLOADS, backends=BACKENDS) -> list[BackendStatus]:
    return [status(w, b) for w in workloads for b in backends]


@dataclass
class Selected:
    """A backend module and one of its devices, ready to run."""

    backend: str
    module: ModuleType
    device: DeviceInfo

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.device.index}"


def require(workload: str, spec: str) -> list[Selected]:
    """Resolve 'NAME' (all its devices) or 'NAME:INDEX' (one) for a workload, or raise UsageError.

    Never falls back to another backend: a backend that cannot run here is an error with its reason.
    """
    backend, index = parse_spec(spec)
    st = status(workload, backend)
    if not st.available:
        raise UsageError(f"backend {backend} cannot run {workload} here: {st.reason}")
    if index is None:
        return [Selected(backend, module(workload, backend), d) for d in st.devices]
    for d in st.devices:
        if d.index == index:
            return [Selected(backend, module(workload, backend), d)]
    for d, why in st.unusable:
        if d.index == index:
            raise UsageError(f"{backend}:{index} ({d.name}) cannot run {workload} here: {why}")
    valid = ", ".join(f"{backend}:{d.index}" for d in st.devices)
    raise UsageError(f"backend {backend} has no device {index}; devices here: {valid}")
