"""Dense GEMM, C = A @ B: the NumPy/BLAS baseline and one file per backend, with shapes and verification.

Every backend file meets `Backend` (tests/test_architecture.py checks each against it). The inference
workload runs its matrix products on these same modules.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kernels.runtime import DeviceInfo, Traits


class Backend(Protocol):
    """What bench needs from a GEMM backend module."""

    TRAITS: Traits

    def available(self) -> tuple[bool, str]: ...

    def devices(self) -> list[DeviceInfo]: ...

    def dtypes(self, device: int = 0) -> tuple[str, ...]:
        """The dtypes this backend multiplies on the device."""

    def to_device(self, x, *, dtype: str = "fp32", device: int = 0):
        """`x` made resident on the device in the backend's own layout (a host array where that is all)."""

    def to_host(self, x) -> np.ndarray: ...

    def synchronize(self, device: int = 0) -> None: ...

    def matmul(self, a, b, *, dtype: str = "fp32", device: int = 0):
        """C = A @ B; host arrays in -> host array out, resident operands in -> a resident result."""
