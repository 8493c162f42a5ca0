"""Hand CuPy activations to the CUDA GEMM backends and take their products back, never leaving the GPU.

The decoder keeps its activations as float32 CuPy arrays; each CUDA GEMM backend has its own operand
type: kernels/gemm/cupy_cuda.py a `CupyMatrix` (storage per dtype: float32, float16, or bfloat16 as
uint16 bit patterns, rows padded to its alignment), kernels/gemm/numba_cuda.py a Numba device array.
The conversions here are elementwise array code, written for any array module `xp` (CuPy on a GPU;
NumPy in the tests, which check them bit for bit against the backend's own host conversion).
"""

from __future__ import annotations

import numpy as np


def bf16_bits(x, xp=np):
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest, ties to even (as cupy_cuda's host path)."""
    u = xp.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def bf16_float32(bits, xp=np):
    """bfloat16 bit patterns (uint16) -> float32, exactly."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


class CupyOperands:
    """float32 (M, K) arrays <-> kernels.gemm.cupy_cuda.CupyMatrix of the model's dtype."""

    def __init__(self, gemm, dtype: str, device: int, xp):
        self.gemm, self.dtype, self.device, self.xp = gemm, dtype, device, xp
        self.align = gemm.ROW_ALIGN[dtype]

    def operand(self, x):
        xp, dtype = self.xp, self.dtype
        rows, cols = x.shape
        if dtype == "bf16":
            data = bf16_bits(x, xp)
        elif dtype == "fp16":
            data = xp.ascontiguousarray(x, dtype=np.float16)
        else:
            data = xp.ascontiguousarray(x, dtype=np.float32)
        if cols % self.align:
            padded = xp.zeros((rows, -(-cols // self.align) * self.align), dtype=data.dtype)
            padded[:, :cols] = data
            data = padded
        return self.gemm.CupyMatrix(data, rows, cols, dtype, self.device)

    def result(self, c):
        data = c.data[:, : c.cols]
        if c.dtype == "bf16":
            return bf16_float32(data, self.xp)
        return self.xp.ascontiguousarray(data, dtype=np.float32)


class NumbaOperands:
    """float32 CuPy arrays <-> Numba device arrays, zero-copy through __cuda_array_interface__.

    Numba launches on the default stream; so does CuPy unless a stream is made current. On the default
    stream the order of the two libraries' work is already guaranteed, so the import skips the stream
    synchronisation Numba would otherwise do (a host stall before every product); on any other CuPy
    stream it keeps it.
    """

    def __init__(self, xp):
        from numba import cuda

        self.xp, self._as_numba = xp, cuda.as_cuda_array

    def operand(self, x):
        cuda = self.xp.cuda
        same_stream = cuda.get_current_stream() == cuda.Stream.null
        return self._as_numba(self.xp.ascontiguousarray(x, dtype=np.float32), sync=not same_stream)

    def result(self, c):
        return self.xp.asarray(c)


def operands(gemm, dtype: str, device: int, xp):
    """The converter for a CUDA GEMM backend module; ValueError for a backend that has none."""
    name = gemm.__name__.rsplit(".", 1)[-1]
    if name == "cupy_cuda":
        return CupyOperands(gemm, dtype, device, xp)
    if name == "numba_cuda":
        return NumbaOperands(xp)
    raise ValueError(f"{gemm.__name__} has no on-device operand converter; the decoder runs it on the host")
