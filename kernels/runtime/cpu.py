"""The host CPU as a device: name, cores, memory."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

from kernels.runtime import DeviceInfo


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@lru_cache(maxsize=1)
def cpu_flags() -> tuple[str, ...]:
    """The CPU's feature flags as Linux lists them ('flags' on x86, 'Features' on Arm: neon is 'asimd')."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return tuple(line.split(":", 1)[1].split())
    except OSError:
        pass
    return ()


def vector_bits(flags: tuple[str, ...] | None = None) -> int:
    """Width of the CPU's integer/float vector registers that the kernels fill: 512 (AVX-512), 256 (AVX2),
    else 128 (SSE, Arm NEON; SVE on Grace / Neoverse V2 is 128 bits too)."""
    flags = set(cpu_flags() if flags is None else flags)
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        return 512
    if "avx2" in flags:
        return 256
    return 128


def compile_features() -> frozenset[str]:
    """The CPU features Numba compiles for, as LLVM names them ('+avx2', '+sha', ...): NUMBA_CPU_FEATURES,
    else the host's. A kernel that uses an instruction set's intrinsics must check it here, not in
    /proc/cpuinfo: LLVM cannot emit an instruction the target it compiles for lacks."""
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if not features and os.environ.get("NUMBA_CPU_NAME"):
        return frozenset()  # a named CPU's features are LLVM's to infer (`generic` has none): assume none
    return _feature_set(features or host_features())


@lru_cache(maxsize=1)
def host_features() -> str:
    """LLVM's feature string of this CPU ('+avx2,-avx512f,...'), asked once."""
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features().flatten()


@lru_cache(maxsize=4)
def _feature_set(features: str) -> frozenset[str]:
    """A feature string as a set, parsed once per string (the SHA-256 kernels ask per call; 8 us a parse)."""
    return frozenset(features.split(","))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def devices() -> list[DeviceInfo]:
    return [DeviceInfo(0, cpu_model(), "cpu", memory_bytes(), platform.machine(), "", usable_cores())]
