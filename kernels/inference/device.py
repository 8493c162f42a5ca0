"""Hand CuPy activations to the CUDA GEMM backends and take their products back, never leaving the GPU.

The decoder keeps its activations as float32 CuPy arrays; each CUDA GEMM backend has its own operand
type: kernels/gemm/cupy_cuda.py a `CupyMatrix` (storage per dtype: float32, float16, or bfloat16 as
uint16 bit patterns, rows padded to its alignment), kernels/gemm/numba_cuda.py a Numba device array.
The conversions here are elementwise array code, written for any array module `xp` (CuPy on a GPU;
NumPy in the tests, which check them bit for bit against the backend's own host conversion).
"""

from __future__ import annotations

import numpy as np

from kernels.gemm import shapes


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

    def product(self, x, w):
        """x (M, K) float32 CuPy array @ w (a resident CupyMatrix) -> (M, N) float32 CuPy array."""
        return self.result(self.gemm.matmul(self.operand(x), w, dtype=self.dtype, device=self.device))


class NumbaOperands:
    """float32 CuPy arrays into kernels/gemm/numba_cuda.py, zero-copy through __cuda_array_interface__.

    Each product is launched on the CuPy stream current at the call (handed to Numba as an external
    stream) into an output CuPy allocates (from its pool, or from a CUDA graph's private pool). The two
    libraries' work is then ordered by the stream alone: no host synchronisation, no allocation by Numba,
    nothing a stream capture forbids, so a decode step with these products in it can become a CUDA graph
    (kernels/inference/graph.py) as the cuBLAS one does.
    """

    def __init__(self, gemm, xp):
        from numba import cuda

        self.gemm, self.xp, self.numba = gemm, xp, cuda
        self._streams: dict[int, object] = {}

    def _stream(self):
        """Numba's handle on CuPy's current stream (the legacy default stream where that is current)."""
        ptr = self.xp.cuda.get_current_stream().ptr
        if ptr not in self._streams:
            self._streams[ptr] = self.numba.external_stream(ptr) if ptr else self.numba.default_stream()
        return self._streams[ptr]

    def product(self, x, w):
        """x (M, K) CuPy array @ w (K, N) resident Numba array -> (M, N) float32 CuPy array."""
        a = self.xp.ascontiguousarray(x, dtype=np.float32)
        m, n, _ = shapes.check_operands(a.shape, w.shape)
        c = self.xp.empty((m, n), dtype=np.float32)
        view = self.numba.as_cuda_array
        self.gemm.launch(view(a, sync=False), w, view(c, sync=False), stream=self._stream())
        return c


def operands(gemm, dtype: str, device: int, xp):
    """The converter for a CUDA GEMM backend module; ValueError for a backend that has none."""
    name = gemm.__name__.rsplit(".", 1)[-1]
    if name == "cupy_cuda":
        return CupyOperands(gemm, dtype, device, xp)
    if name == "numba_cuda":
        return NumbaOperands(gemm, xp)
    raise ValueError(f"{gemm.__name__} has no on-device operand converter; the decoder runs it on the host")
