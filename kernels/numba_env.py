"""Numba settings that make the CPU kernels vectorise, applied before the first compile.

- `NUMBA_SLP_VECTORIZE=1`: Numba turns LLVM's SLP vectoriser off by default; register-tiled kernels
  stay scalar without it.
- `-prefer-256-bit` added to the host CPU features: LLVM otherwise emits 256-bit vectors on AVX-512
  CPUs; 16 uint32 / float32 lanes per zmm register doubled SGEMM speed in a prototype.
- `OMP_WAIT_POLICY=PASSIVE`: Numba's OpenMP threads and OpenBLAS's threads otherwise busy-wait against
  each other when interleaved on few cores.
- `GOMP_SPINCOUNT=10000`: with PASSIVE alone, GNU OpenMP (Numba's `omp` layer on Linux) puts a worker to
  sleep the moment a region ends, and waking it for the next costs about 100 us on these VMs (a futex
  across virtual CPUs): a quantised decode step enters 91 regions, and Q4_1 decode ran at 74-84 tok/s.
  libgomp takes an explicit spin count over the policy; 10000 (about 0.1 ms of spinning before the
  worker sleeps) gave 178-181 tok/s, numpy rows unchanged (2-core AMD Zen 3, one process, alternating).
  Other OpenMP runtimes keep PASSIVE. Numba prefers its `tbb` layer where libtbb loads, and in a
  `bench run` it does once Intel's OpenCL runtime has brought libtbb into the process: run files record
  the layer that ran (`run.thread_settings`).
- `numpy.row_stack` put back as the alias of `numpy.vstack` it always was, where NumPy >= 2.5 removed it:
  numba-cuda 0.30 (in maintenance, NVIDIA/numba-cuda#907 closed unfixed) registers an overload for it at
  its first compile, so without the alias every Numba CUDA kernel fails with AttributeError (seen on an
  H100 image with NumPy 2.5.2).

A user's own setting of any of these variables wins (set it before running). They are for the suite's
own kernels only: a peer measured beside them (llama.cpp) runs in a process of its own without any of
them (kernels/inference/llama_cpp_peer.py), since OMP_WAIT_POLICY=PASSIVE throttles its OpenMP threads.
"""

from __future__ import annotations

import os
import sys

from kernels.runtime import cpu, numba_cache

SETTINGS = ("NUMBA_SLP_VECTORIZE", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_CPU_FEATURES")  # what configure() sets
SPIN_COUNT = "10000"  # GNU OpenMP spins before a worker sleeps between regions (about 0.1 ms)


def host_features_512() -> str:
    """The host's LLVM feature string with 512-bit vectors preferred where AVX-512 exists."""
    features = cpu.host_features()
    if "+avx512f" in features.split(","):
        features += ",-prefer-256-bit"
    return features


def restore_row_stack() -> bool:
    """Alias numpy.row_stack to numpy.vstack where NumPy removed it; True if the alias was added."""
    import numpy as np

    try:
        np.row_stack  # noqa: B018 - the attribute access is the test
        return False
    except AttributeError:
        np.row_stack = np.vstack
        return True


def configure() -> None:
    numba_cache.ensure_writable_cache()  # a read-only install: Numba's cache in the suite's own folder
    restore_row_stack()
    os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)  # libgomp reads it once, at its first parallel region
    if "NUMBA_CPU_FEATURES" not in os.environ:
        try:
            os.environ["NUMBA_CPU_FEATURES"] = host_features_512()
        except Exception:  # llvmlite missing or unusual host: keep Numba's own defaults
            return
    if "numba" in sys.modules:  # imported before us: make it re-read the environment
        from numba.core import config

        config.reload_config()
