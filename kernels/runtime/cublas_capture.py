"""cublasGemmEx through ctypes, for CUDA graph capture: CuPy's cuBLAS bindings refuse every call while a
stream is capturing ("calling cuBLAS API during stream capture is currently unsupported", CuPy 13-14),
while cuBLAS itself supports capture. Same library file CuPy loaded, same handle, same arguments.

`enabled()` is a per-thread switch that kernels/gemm/cupy_cuda.py reads; kernels/inference/graph.py turns
it on around a capture (and its warm-up, so the captured path has run eagerly once).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from functools import lru_cache

_state = threading.local()


def enabled() -> bool:
    return getattr(_state, "on", False)


@contextlib.contextmanager
def active():
    """cupy_cuda's cuBLAS products go through this module inside the block (this thread only)."""
    before = enabled()
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


def loaded_path(maps: str = "/proc/self/maps") -> str | None:
    """The libcublas this process has loaded (CuPy loads it from the pip wheels or the toolkit)."""
    try:
        with open(maps, encoding="utf-8", errors="replace") as f:
            for line in f:
                path = line.split(maxsplit=5)[-1].strip() if line.count(" ") >= 5 else ""
                if os.path.basename(path).startswith("libcublas.so"):
                    return path
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    candidates = [p for p in (loaded_path(),) if p] + ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise RuntimeError(f"libcublas could not be opened through ctypes (tried {', '.join(candidates)})")
    ptr, i32 = ctypes.c_void_p, ctypes.c_int
    lib.cublasSetStream_v2.argtypes, lib.cublasSetStream_v2.restype = [ptr, ptr], i32
    lib.cublasGemmEx.argtypes = [ptr, i32, i32, i32, i32, i32, ptr, ptr, i32, i32, ptr, i32, i32, ptr, ptr, i32, i32,
                                 i32, i32]
    lib.cublasGemmEx.restype = i32
    return lib


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"{what} returned cublasStatus_t {status}")


def gemm_ex(handle: int, stream: int, *gemm_args) -> None:
    """cublasSetStream, then cublasGemmEx(handle, *gemm_args): cuBLAS's argument order from transa to algo,
    raw pointers (host alpha/beta, device A/B/C), as CuPy's `cublas.gemmEx` takes them after the handle."""
    lib = library()
    _check(lib.cublasSetStream_v2(handle, stream), "cublasSetStream")
    _check(lib.cublasGemmEx(handle, *gemm_args), "cublasGemmEx")
