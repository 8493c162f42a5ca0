"""Discovery: which backend works on which device here, and why not.

A backend is a file, `kernels/<workload package>/<module>.py`, found by name; adding a backend means
adding a file and its name below. Every backend module exposes `available() -> (bool, reason)` and
`devices() -> list[DeviceInfo]`, and imports its optional packages lazily, so a missing package makes
that backend unavailable with its reason and never breaks the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from bench.errors import UsageError
from kernels.runtime import DeviceInfo

BACKENDS = ("numpy", "numba-cpu", "numba-cuda", "cupy", "opencl")
MODULES = {
    "numpy": "numpy_blas",
    "numba-cpu": "numba_cpu",
    "numba-cuda": "numba_cuda",
    "cupy": "cupy_cuda",
    "opencl": "opencl",
}
WORKLOADS = ("sha256d", "gemm", "inference")
# Inference runs its matrix products on the GEMM backends, so it shares their modules.
PACKAGES = {"sha256d": "kernels.sha256", "gemm": "kernels.gemm", "inference": "kernels.gemm"}
GPU_BACKENDS = ("numba-cuda", "cupy")


@dataclass
class BackendStatus:
    backend: str
    workload: str
    available: bool
    reason: str = ""
    devices: list[DeviceInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "workload": self.workload,
            "available": self.available,
            "reason": self.reason,
            "devices": [d.to_dict() for d in self.devices],
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
        return BackendStatus(backend, workload, False, f"{backend} has no {workload} kernel")
    try:
        ok, reason = mod.available()
        found = list(mod.devices()) if ok else []
    except Exception as exc:  # noqa: BLE001 - a broken driver must not break discovery
        return BackendStatus(backend, workload, False, f"{backend}: {type(exc).__name__}: {exc}")
    if ok and not found:
        return BackendStatus(backend, workload, False, f"{backend}: no device found")
    return BackendStatus(backend, workload, ok, reason, found)


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
    valid = ", ".join(f"{backend}:{d.index}" for d in st.devices)
    raise UsageError(f"backend {backend} has no device {index}; devices here: {valid}")
