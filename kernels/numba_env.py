"""Numba settings that make the CPU kernels vectorise, applied before the first compile.

- `NUMBA_SLP_VECTORIZE=1`: Numba turns LLVM's SLP vectoriser off by default; register-tiled kernels
  stay scalar without it.
- `-prefer-256-bit` added to the host CPU features: LLVM otherwise emits 256-bit vectors on AVX-512
  CPUs; 16 uint32 / float32 lanes per zmm register doubled SGEMM speed in a prototype.
- `OMP_WAIT_POLICY=PASSIVE`: Numba's OpenMP threads and OpenBLAS's threads otherwise busy-wait against
  each other when interleaved on few cores.

A user's own setting of any of these variables wins (set it before running).
"""

from __future__ import annotations

import os
import sys


def host_features_512() -> str:
    """The host's LLVM feature string with 512-bit vectors preferred where AVX-512 exists."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        features += ",-prefer-256-bit"
    return features


def configure() -> None:
    os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "NUMBA_CPU_FEATURES" not in os.environ:
        try:
            os.environ["NUMBA_CPU_FEATURES"] = host_features_512()
        except Exception:  # llvmlite missing or unusual host: keep Numba's own defaults
            return
    if "numba" in sys.modules:  # imported before us: make it re-read the environment
        from numba.core import config

        config.reload_config()
