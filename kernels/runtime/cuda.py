"""CUDA through CuPy and through Numba: availability with the reason, the devices each sees, and the
on-disk home of compiled kernels.

The kernel cache: Numba CUDA compiles the generated SHA-256d kernels in ~20 s (its lowering of straight-
line code), so a kernel's generated source is written once to a file under `kernel_cache_dir()` whose
name is a hash of the source and of the compiler versions (`generated_module`); jitted with cache=True,
Numba then keeps the cubin in that folder's __pycache__, its index keyed by the signature, the CUDA
runtime version and the device's compute capability, and stamped with the source file's size and time
(the file is never rewritten). A change to the generator, to numba / numba-cuda / NVVM, or another GPU
compiles afresh; a second process on the same GPU loads the cubin. CuPy keeps its own NVRTC cache
(CUPY_CACHE_DIR, default ~/.cupy/kernel_cache), keyed by source, options, architecture and NVRTC version.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from kernels.runtime import DeviceInfo, cache

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


CACHE_DIR_ENV = "SITEBENCH_CACHE_DIR"
COMPILER_DISTRIBUTIONS = ("numba", "numba-cuda", "llvmlite", "nvidia-nvvm", "cuda-bindings")  # package names


def kernel_cache_dir() -> Path:
    """The suite's cache folder (kernels.runtime.cache): $SITEBENCH_CACHE_DIR, else $XDG_CACHE_HOME/sitebench,
    else ~/.cache/sitebench (created on use)."""
    return cache.base_dir()


def compiler_versions() -> tuple[str, ...]:
    """"name version" of each installed package that turns Numba CUDA Python into a cubin."""
    versions = []
    for dist in COMPILER_DISTRIBUTIONS:
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} absent")
    return tuple(versions)


def source_key(source: str, versions: tuple[str, ...]) -> str:
    """A short hash naming one source under one set of compiler versions."""
    digest = hashlib.sha256(source.encode())
    for version in versions:
        digest.update(b"\0" + version.encode())
    return digest.hexdigest()[:20]


def generated_module(name: str, source: str, versions: tuple[str, ...] | None = None,
                     folder: Path | None = None) -> ModuleType:
    """Python `source` imported from `<folder>/numba-cuda/<name>_<key>.py`, a file written once and then
    left alone, so that Numba's cache=True can find it and trust its stamp. It appears whole (written
    aside, then hard-linked into place) and the first writer wins, so concurrent processes such as MPI
    ranks neither see half of it nor rewrite it; a file whose text differs (damaged) is replaced.
    Where the folder cannot be written, the module is built in memory (`__file__` None: not cachable)."""
    versions = compiler_versions() if versions is None else versions
    home = (folder or kernel_cache_dir()) / "numba-cuda"  # library name
    path = home / f"{name}_{source_key(source, versions)}.py"
    try:
        _write_once(path, source)
    except OSError:
        module = ModuleType(f"sitebench_generated_{path.stem}")
        module.__file__ = None
        exec(compile(source, f"<{path.name}, not cached: {home} is not writable>", "exec"), vars(module))  # noqa: S102
        return module
    module_name = f"sitebench_generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.setdefault(module_name, module)
    return module


def _write_once(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        if path.exists():
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass  # another process wrote the same text first
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
