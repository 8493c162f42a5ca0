"""Running numba-cpu's SHA-256 on a chosen kernel (lanes or SHA-NI), for the tests and the benchmarks."""

from __future__ import annotations

import pytest

from kernels.sha256 import numba_cpu, sha_ni


def use_scan_kernel(kernel: str, monkeypatch) -> None:
    """numba-cpu's scan and hash_batch run on `kernel` for the calling test; skipped where Numba cannot
    build it (SHA-NI: every CI CPU seen so far has it)."""
    if kernel == "sha-ni" and not sha_ni.available():
        pytest.skip("Numba does not compile for SHA-NI on this CPU")
    monkeypatch.setenv("SITEBENCH_SHA256_CPU", kernel)
    assert numba_cpu.scan_kernel() == kernel
