"""The decoder's non-GEMM steps as one CUDA kernel each (decoder_ops.cu, compiled once per device by CuPy).

`CudaOps` has the interface of `kernels.inference.model.ArrayOps` (RMSNorm, RoPE + KV-cache store,
attention, SwiGLU) and replaces its ~50 CuPy launches per layer by 5: on a GPU the decoder is otherwise
bound by launch overhead, not by the GPU (SmolLM2-135M decode measured at ~30 ms per step on an H100
whatever the batch). Positions are read from a device array, so a decode step has the same kernels and
arguments at every position and can be captured once as a CUDA graph (kernels/inference/graph.py).
Prefill attention (T > 1) stays on the matrix-product form of ArrayOps: compute-bound, few launches.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.inference import array_ops

SOURCE = Path(__file__).with_name("decoder_ops.cu")
THREADS = 128  # per block: 4 warps; every row/head of these models has >= 64 elements
DEFAULT_SHARED = 48 * 1024  # dynamic shared memory a kernel gets without opting in


def available(xp) -> bool:
    """True for real CuPy (RawModule present); False for NumPy and stand-ins."""
    return getattr(xp, "__name__", "") == "cupy" and hasattr(xp, "RawModule") and hasattr(xp, "cuda")  # library name


@lru_cache(maxsize=None)
def _module(device: int):
    import cupy

    with cupy.cuda.Device(device):
        return cupy.RawModule(code=SOURCE.read_text(encoding="utf-8"), options=("-std=c++17",))


class CudaOps:
    """Fused kernels for one model on one GPU (float32 activations)."""

    fused = True

    def __init__(self, config, cos, sin, xp, device: int):
        self.c, self.cos, self.sin, self.xp = config, cos, sin, xp
        self._array = array_ops.ArrayOps(config, cos, sin, xp)
        module = _module(device)
        self._rms, self._rope, self._attend, self._swiglu = (
            module.get_function(name) for name in ("rms_norm", "rope_store", "attend_one", "swiglu"))
        self._attend_limit = DEFAULT_SHARED
        if (config.head_dim + config.max_context) * 4 > DEFAULT_SHARED:
            self._attend_limit = xp.cuda.Device(device).attributes.get("MaxSharedMemoryPerBlockOptin", DEFAULT_SHARED)
            self._attend.max_dynamic_shared_size_bytes = self._attend_limit

    @staticmethod
    def _grid(n: int) -> tuple[int]:
        return (max(1, -(-n // THREADS)),)

    @staticmethod
    def _ld(x) -> np.int32:
        """Row stride in elements of a 2-D float32 array whose rows are contiguous (a column slice is fine)."""
        assert x.ndim == 2 and x.strides[1] == 4 and x.dtype == np.float32, (x.shape, x.strides, x.dtype)
        return np.int32(x.strides[0] // 4)

    def at(self, B: int, T: int, start: int):
        """The device array the kernels read the first position from."""
        return self.xp.asarray(np.array([start], dtype=np.int32))

    def rms_norm(self, x, w):
        x = self.xp.ascontiguousarray(x)
        y = self.xp.empty_like(x)
        rows, cols = x.shape
        self._rms((rows,), (THREADS,), (x, w, y, np.int32(cols), np.float32(self.c.rms_eps)))
        return y

    def rope_store(self, qkv, cache, layer: int, B: int, T: int, start: int, pos):
        """Rotated Q (B*T, nh*hd); rotated K and V written into the cache at positions pos[0]..pos[0]+T-1."""
        c = self.c
        q = self.xp.empty((B * T, c.n_heads * c.head_dim), dtype=np.float32)
        n = B * T * (c.n_heads + 2 * c.n_kv_heads) * (c.head_dim // 2)
        i32 = np.int32
        self._rope(self._grid(n), (THREADS,), (
            qkv, self._ld(qkv), self.cos, self.sin, pos, q, cache.k[layer], cache.v[layer],
            i32(B * T), i32(T), i32(c.n_heads), i32(c.n_kv_heads), i32(c.head_dim), i32(cache.length)))
        return q

    def _attend_shared(self, cache) -> int:
        """attend_one's dynamic shared memory on `cache`: the query and one score per cached position."""
        return (self.c.head_dim + cache.length) * 4

    def decodes_on_device(self, cache) -> bool:
        """Whether a decode step on `cache` runs attend_one (its scores fit in shared memory), reading the
        position from device memory only: what a CUDA graph replayed at other positions needs."""
        return self._attend_shared(cache) <= self._attend_limit

    def attention(self, q, cache, layer: int, B: int, T: int, start: int, pos):
        """(B*T, nh*hd) attention output; one kernel for a decode step, matrix products for a prompt."""
        c = self.c
        if T > 1 or not self.decodes_on_device(cache):
            return self._array.attention(q, cache, layer, B, T, start, pos)
        out = self.xp.empty((B, c.n_heads * c.head_dim), dtype=np.float32)
        i32 = np.int32
        self._attend((B * c.n_heads,), (THREADS,), (
            q, cache.k[layer], cache.v[layer], pos, out,
            i32(c.n_heads), i32(c.n_kv_heads), i32(c.head_dim), i32(cache.length)),
            shared_mem=self._attend_shared(cache))
        return out

    def swiglu(self, gu):
        rows, ffn = gu.shape[0], self.c.d_ffn
        out = self.xp.empty((rows, ffn), dtype=np.float32)
        self._swiglu(self._grid(rows * ffn), (THREADS,), (gu, self._ld(gu), out, np.int32(rows), np.int32(ffn)))
        return out
