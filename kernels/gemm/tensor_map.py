"""TMA tensor maps (CUtensorMap) for the Hopper GEMM's TMA kernel, encoded by the CUDA driver.

A tensor map tells the Tensor Memory Accelerator where a matrix lies in global memory (address, sizes, row
stride) and which box of it one copy moves into shared memory, in which swizzle. Only the driver may
write one (`cuTensorMapEncodeTiled`, CUDA 12.0+); CuPy does not wrap it, so it is called here through
ctypes on the libcuda that CuPy has already loaded. The kernel takes the 128 bytes by value
(`__grid_constant__`): CuPy passes a one-element NumPy array by value, which is what `encode` returns.

`tiled` states the arguments for one row-major matrix and checks TMA's rules, so that a matrix TMA cannot
describe is refused with a reason rather than failing inside the driver.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# CUtensorMapDataType, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion and
# CUtensorMapFloatOOBfill values (cuda.h).
DATA_TYPES = {"fp16": 6, "bf16": 9}
INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_256B, OOB_FILL_ZERO = 0, 3, 3, 0
MAP_BYTES, MAP_ALIGN = 128, 64  # sizeof(CUtensorMap) and the alignment the driver requires of it
SWIZZLE_BYTES = 128  # a box's rows must be at most this wide in the 128-byte swizzle
ELEMENT_BYTES = 2
U32, U64 = ctypes.c_uint32, ctypes.c_uint64  # cuuint32_t, cuuint64_t

TENSOR_MAP = np.dtype([("opaque", "<u8", (MAP_BYTES // 8,))])


@dataclass(frozen=True)
class Tiled:
    """The arguments of cuTensorMapEncodeTiled for a row-major rows x cols matrix, innermost first."""

    data_type: int
    address: int
    dims: tuple[int, int]  # (columns, rows) in elements
    row_stride: int  # bytes from one row to the next
    box: tuple[int, int]  # (columns, rows) of one copy


def tiled(address: int, rows: int, cols: int, ld: int, box_rows: int, box_cols: int, dtype: str) -> Tiled:
    """The tensor map of a row-major matrix of `dtype` at `address` with rows `ld` elements apart, copied
    box_rows x box_cols at a time into the 128-byte swizzle. Raises ValueError where TMA cannot do it."""
    if dtype not in DATA_TYPES:
        raise ValueError(f"no TMA kernel for {dtype}; choose one of {', '.join(DATA_TYPES)}")
    stride = ld * ELEMENT_BYTES
    problems = [
        (address % 16, f"the matrix must start on a 16-byte boundary (it starts at {address:#x})"),
        (stride % 16 or stride >= 1 << 40,
         f"rows must be a multiple of 16 bytes apart, below 2^40 (they are {stride})"),
        (not 0 < cols <= ld, f"{cols} columns do not fit rows of {ld} elements"),
        (not 0 < rows < 1 << 32, f"{rows} rows is outside TMA's 1..2^32-1"),
        (not 0 < box_rows <= 256 or not 0 < box_cols <= 256, f"a box of {box_rows} x {box_cols} exceeds 256 per side"),
        (box_cols * ELEMENT_BYTES > SWIZZLE_BYTES, f"a box row of {box_cols * ELEMENT_BYTES} bytes exceeds the "
                                                   f"{SWIZZLE_BYTES}-byte swizzle"),
    ]
    for failed, why in problems:
        if failed:
            raise ValueError(f"TMA cannot copy this matrix: {why}")
    return Tiled(DATA_TYPES[dtype], address, (cols, rows), stride, (box_cols, box_rows))


@lru_cache(maxsize=1)
def _driver_encode():
    """cuTensorMapEncodeTiled from libcuda, typed; RuntimeError where the driver has none (before 12.0)."""
    try:
        function = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
    except (OSError, AttributeError) as exc:
        raise RuntimeError(f"the CUDA driver has no cuTensorMapEncodeTiled (needs 12.0 or newer): {exc}") from exc
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, U32, ctypes.c_void_p, ctypes.POINTER(U64),
                         ctypes.POINTER(U64), ctypes.POINTER(U32), ctypes.POINTER(U32),
                         ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return function


def _aligned_map() -> np.ndarray:
    """A zeroed one-element TENSOR_MAP array whose data starts on a MAP_ALIGN-byte boundary."""
    raw = np.zeros(MAP_BYTES + MAP_ALIGN, np.uint8)
    skip = -raw.ctypes.data % MAP_ALIGN
    return raw[skip:skip + MAP_BYTES].view(TENSOR_MAP)  # keeps `raw` alive as its base


@lru_cache(maxsize=256)
def encode(spec: Tiled, driver=None) -> np.ndarray:
    """The CUtensorMap of `spec` as a one-element array (CuPy passes it to a kernel by value). A map only
    holds what `spec` holds, so maps are kept per spec and reused by later launches on the same matrix."""
    function = driver or _driver_encode()
    out = _aligned_map()
    status = function(ctypes.c_void_p(out.ctypes.data), spec.data_type, 2, ctypes.c_void_p(spec.address),
                      (U64 * 2)(*spec.dims), (U64 * 1)(spec.row_stride), (U32 * 2)(*spec.box), (U32 * 2)(1, 1),
                      INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_256B, OOB_FILL_ZERO)
    if status != 0:
        raise RuntimeError(f"cuTensorMapEncodeTiled returned CUresult {status} for {spec}")
    out.flags.writeable = False  # shared by every launch that reuses it
    return out
