"""NumPy's matmul: the CPU vendor baseline (whatever BLAS NumPy links, usually OpenBLAS).

`blas_info()` says which library, version, kernel architecture and thread count did the work, via
threadpoolctl, so a report can name the baseline exactly.
"""

from __future__ import annotations

import numpy as np

from kernels.gemm import shapes, verify
from kernels.runtime import Traits, cpu, parse_device_index

TRAITS = Traits("cpu", kernel="NumPy matmul on its BLAS", reference_for="cpu", reference_name="numpy",
                reference_only=True)

DTYPES = ("fp64", "fp32")  # NumPy's float16 matmul has no BLAS behind it; bf16/tf32 do not exist here


def available() -> tuple[bool, str]:
    return True, ""


def devices():
    return cpu.devices()


def dtypes(device: int = 0) -> tuple[str, ...]:
    parse_device_index(device, devices(), "numpy")
    return DTYPES


def blas_info() -> str:
    """E.g. 'openblas 0.3.31 (SkylakeX kernel, 2 threads, pthreads)'; 'unknown BLAS' without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown BLAS (threadpoolctl not installed)"
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            details = [f"{pool.get('num_threads')} threads"]
            if pool.get("architecture"):
                details.insert(0, f"{pool['architecture']} kernel")
            if pool.get("threading_layer"):
                details.append(pool["threading_layer"])
            return f"{pool.get('internal_api')} {pool.get('version')} ({', '.join(details)})"
    return "unknown BLAS (none reported by threadpoolctl)"


def reference_kernel_text(dtype: str) -> str:
    """What runs as the CPU baseline, for the report."""
    return f"NumPy matmul -> {blas_info()}"


def to_device(x, *, dtype: str = "fp32", device: int = 0) -> np.ndarray:
    """A C-contiguous host array of the dtype (NumPy needs no packing; a copy only to convert)."""
    verify.check_dtype(dtype, dtypes(device), f"numpy:{device}")
    return verify.host_array(x, dtype, "operand")


def to_host(x) -> np.ndarray:
    return np.asarray(x)


def synchronize(device: int = 0) -> None:
    """NumPy returns when the product is done: nothing to wait for."""


def matmul(a, b, *, dtype: str = "fp32", device: int = 0) -> np.ndarray:
    """C = A @ B through BLAS (sgemm / dgemm)."""
    verify.check_dtype(dtype, dtypes(device), f"numpy:{device}")
    a = verify.host_array(a, dtype, "A")
    b = verify.host_array(b, dtype, "B")
    shapes.check_operands(a.shape, b.shape)
    return a @ b
