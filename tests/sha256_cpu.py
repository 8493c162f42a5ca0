"""Running numba-cpu's SHA-256 on a chosen kernel (lanes, or the SHA-256 unit), for the tests and the benchmarks."""

from __future__ import annotations

import pytest

from kernels.sha256 import numba_cpu


def use_scan_kernel(kernel: str, monkeypatch) -> None:
    """numba-cpu's scan and hash_batch run on `kernel` for the calling test; skipped where Numba cannot
    build it (SHA-NI: every x86 CI CPU seen so far has it; Arm SHA2: only on AArch64)."""
    if not numba_cpu.kernel_available(kernel):
        pytest.skip(f"Numba does not compile the {kernel} kernel on this CPU")
    monkeypatch.setenv("SITEBENCH_SHA256_CPU", kernel)
    assert numba_cpu.scan_kernel() == numba_cpu.batch_kernel() == kernel
