"""The host CPU as a device: name, cores, memory."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

from kernels.runtime import DeviceInfo

# Arm Ltd's server cores (implementer 0x41) by /proc/cpuinfo's "CPU part" (Linux's asm/cputype.h): name, and
# 128-bit FMA pipes per core (the Neoverse software optimisation guides). NVIDIA Grace is 72 Neoverse V2.
ARM_CORES = {
    0xD0C: ("Neoverse-N1", 2),
    0xD40: ("Neoverse-V1", 4),  # 2 x 256-bit SVE, 4 x 128-bit NEON
    0xD49: ("Neoverse-N2", 2),
    0xD4F: ("Neoverse-V2", 4),
    0xD84: ("Neoverse-V3", 4),
    0xD8E: ("Neoverse-N3", 2),
}


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's name: /proc/cpuinfo's model name on x86; on Arm Linux, which lists none, the core named
    from its implementer and part ("Arm Neoverse-V2" on Grace)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return model_from_cpuinfo(f.read())
    except OSError:
        return model_from_cpuinfo("")


def model_from_cpuinfo(text: str) -> str:
    """cpu_model from the text of a /proc/cpuinfo (the first processor's fields)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if fields.get("model name"):
        return fields["model name"]
    if fields.get("CPU implementer"):
        return _arm_core_name(fields["CPU implementer"], fields.get("CPU part", ""))
    return platform.processor() or platform.machine() or "unknown CPU"


def _arm_core_name(implementer: str, part: str) -> str:
    try:
        implementer_id, part_id = int(implementer, 16), int(part, 16)
    except ValueError:
        return f"Arm CPU (implementer {implementer}, part {part})"
    if implementer_id == 0x41 and part_id in ARM_CORES:
        return f"Arm {ARM_CORES[part_id][0]}"
    return f"Arm CPU (implementer {implementer_id:#x}, part {part_id:#x})"


def arm_fma_pipes(model: str) -> int | None:
    """128-bit FMA pipes per core of an Arm core named by cpu_model, None where it is not in ARM_CORES."""
    return next((pipes for name, pipes in ARM_CORES.values() if model == f"Arm {name}"), None)


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
    """LLVM's feature string of this CPU ('+avx2,-avx512f,...'), asked once. On AArch64 Linux LLVM reads
    only some of /proc/cpuinfo's features (aes, sha2, sve, ... but not asimddp), while the CPU it names
    (`neoverse-v2`) brings the rest to the target Numba compiles for: the dot product (SDOT) is added
    where the kernel lists it and LLVM knows the core by name (a `generic` target would lack it)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "asimddp" in cpu_flags() and llvm.get_host_cpu_name() != "generic" and "dotprod" not in features:
        features = ",".join(filter(None, [features, "+dotprod"]))
    return features


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
