"""A Llama-style decoder whose matrix products run on a GEMM backend module (kernels/gemm/<backend>.py).

Per layer: RMSNorm -> fused QKV product -> rotary embeddings -> grouped-query attention over a KV cache
-> output product -> RMSNorm -> fused gate/up product -> SwiGLU -> down product; then the final norm and
the LM head (tied to the embedding or its own). The weight products — all but a sliver of the FLOPs
and bytes — go through `gemm.matmul` with weights made resident once by `gemm.to_device`. Everything
else runs through `self.ops`: `ArrayOps`, array code in NumPy on the host for CPU and OpenCL backends
(or in CuPy / a stand-in), and on a real GPU `cuda_ops.CudaOps`, one fused CUDA kernel per step, so GPU
runs never round-trip through the host. With cupy, decode steps replay a CUDA graph (graph.py).

Weights are fused and transposed once for `x @ W` (A (M,K) times B (K,N)): Q, K and V into one
(d, d + 2 kv) matrix with Q pre-scaled by 1/sqrt(head_dim), gate and up into one (d, 2 ffn) matrix —
4 products per layer instead of 7, which matters for batch-1 decode where each call is a GEMV.
Batches hold sequences of equal length that start at the same position.
"""

from __future__ import annotations

import contextlib
from types import ModuleType

import numpy as np

from kernels.inference.array_ops import (  # noqa: F401 - the pieces, re-exported
    ArrayOps,
    attention,
    rms_norm,
    rope,
    rope_tables,
    swiglu,
)
from kernels.inference.config import ModelConfig
from kernels.inference.weights import Weights

GEMM_API = ("available", "devices", "dtypes", "matmul", "to_device", "to_host", "synchronize")
DEVICE_RESIDENT = ("cupy_cuda", "numba_cuda")  # backends whose products stay on the GPU


# --- the model -------------------------------------------------------------------------------------


class KVCache:
    """Keys and values of every layer for `batch` sequences of up to `length` positions."""

    def __init__(self, config: ModelConfig, batch: int, length: int, xp=np):
        shape = (config.n_layers, batch, config.n_kv_heads, length, config.head_dim)
        self.k = xp.zeros(shape, dtype=np.float32)
        self.v = xp.zeros(shape, dtype=np.float32)
        self.batch, self.length = batch, length
        self.graphs: dict = {}  # id(model) -> its captured decode step on this cache (kernels/inference/graph.py)

    @property
    def nbytes(self) -> int:
        return int(self.k.nbytes + self.v.nbytes)


def check_gemm(gemm) -> ModuleType:
    """ValueError unless `gemm` is a GEMM backend module (kernels/gemm/<backend>.py)."""
    missing = [name for name in GEMM_API if not callable(getattr(gemm, name, None))]
    if not isinstance(gemm, ModuleType) or missing:
        raise ValueError(
            f"{gemm!r} is not a GEMM backend module (missing {', '.join(missing) or 'module type'}); "
            "pass one of kernels.gemm.numpy_blas, numba_cpu, numba_cuda, cupy_cuda, opencl"
        )
    return gemm


def uses_device_arrays(gemm) -> bool:
    """True for the CUDA backends on a real GPU, where the non-GEMM work runs in CuPy on the device."""
    if gemm.__name__.rsplit(".", 1)[-1] not in DEVICE_RESIDENT:
        return False
    from kernels.runtime.cuda import cupy_status, simulator_enabled

    return not simulator_enabled() and cupy_status()[0]


class Model:
    """The decoder with its weights resident on one device of one GEMM backend."""

    def __init__(self, weights: Weights, gemm, *, dtype: str = "fp32", device: int = 0):
        self.config = weights.check().config.validate()
        self.gemm = check_gemm(gemm)
        ok, reason = gemm.available()
        if not ok:
            raise ValueError(f"GEMM backend {gemm.__name__} cannot run here: {reason}")
        have = tuple(gemm.dtypes(device))
        if dtype not in have:
            raise ValueError(f"dtype {dtype!r} is not offered by {gemm.__name__} on device {device}; choose one of {have}")
        self.dtype, self.device, self.weights_source = dtype, device, weights.source
        self.on_device = uses_device_arrays(gemm)
        self.xp, self._operands = np, None
        if self.on_device:
            import cupy

            from kernels.inference import device as conversions

            self.xp = cupy
            self._operands = conversions.operands(gemm, dtype, device, cupy)
        with self.current():
            self._load(weights)

    def _load(self, weights: Weights) -> None:
        c, gemm, dtype, device, xp = self.config, self.gemm, self.dtype, self.device, self.xp
        resident = lambda w: gemm.to_device(np.ascontiguousarray(w, dtype=np.float32), dtype=dtype, device=device)  # noqa: E731
        vector = lambda w: xp.asarray(w, dtype=np.float32)  # noqa: E731
        q_scale = np.float32(1 / np.sqrt(c.head_dim))
        self.layers = []
        for lw in weights.layers:
            self.layers.append(
                (
                    vector(lw.attn_norm),
                    resident(np.concatenate([lw.wq * q_scale, lw.wk, lw.wv]).T),
                    resident(lw.wo.T),
                    vector(lw.ffn_norm),
                    resident(np.concatenate([lw.w_gate, lw.w_up]).T),
                    resident(lw.w_down.T),
                )
            )
        self.embed = vector(weights.embed)
        self.final_norm = vector(weights.final_norm)
        self.lm_head = resident(weights.head.T)
        cos, sin = rope_tables(c.head_dim, c.max_context, c.rope_theta)
        self.cos, self.sin = xp.asarray(cos), xp.asarray(sin)
        from kernels.inference import cuda_ops, graph

        if self.on_device and cuda_ops.available(xp):
            self.ops = cuda_ops.CudaOps(c, self.cos, self.sin, xp, device)
        else:
            self.ops = ArrayOps(c, self.cos, self.sin, xp)
        self.graph_error = None
        self.use_graphs, self.graph_reason = graph.supported(self)

    # --- plumbing ---

    def current(self):
        """Context that makes the model's GPU current (nothing to do on the host)."""
        if self.on_device:
            return self.xp.cuda.Device(self.device)
        return contextlib.nullcontext()

    def _mm(self, x, w):
        if not self.on_device:
            return self.gemm.to_host(self.gemm.matmul(x, w, dtype=self.dtype, device=self.device))
        return self._operands.product(x, w)

    def new_cache(self, batch: int, length: int | None = None) -> KVCache:
        length = self.config.max_context if length is None else length
        if not 1 <= length <= self.config.max_context:
            raise ValueError(f"cache length {length} must be within 1..{self.config.max_context} (the context)")
        if batch < 1:
            raise ValueError(f"batch must be at least 1 (got {batch})")
        with self.current():
            return KVCache(self.config, batch, length, self.xp)

    def synchronize(self) -> None:
        self.gemm.synchronize(self.device)

    def to_host(self, x) -> np.ndarray:
        return self.xp.asnumpy(x) if self.on_device else np.asarray(x)

    # --- the forward pass ---

    def forward(self, tokens, cache: KVCache, start: int, *, all_logits: bool = False):
        """Run tokens (B, T) at positions start..start+T-1, writing their K/V into the cache.

        Returns the logits of the last position (B, vocab), or of every position (B, T, vocab).
        """
        with self.current():
            return self._forward(tokens, cache, start, all_logits)

    def _checked(self, tokens, cache: KVCache, start: int):
        """tokens (B, T) checked against the cache and the vocabulary, where they arrived: ids on the host
        stay there, so the check costs no device sync."""
        c = self.config
        if not hasattr(tokens, "__cuda_array_interface__"):
            tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] == 0:
            raise ValueError(f"tokens must be (batch, length) with length >= 1, got shape {tokens.shape}")
        B, T = tokens.shape
        if B != cache.batch:
            raise ValueError(f"{B} sequences for a cache made for batch {cache.batch}")
        if start < 0 or start + T > cache.length:
            raise ValueError(
                f"positions {start}..{start + T - 1} do not fit the cache of {cache.length} (context "
                f"{c.max_context}); shorten the prompt or generate fewer tokens"
            )
        if int(tokens.min()) < 0 or int(tokens.max()) >= c.vocab:
            raise ValueError(f"token ids must lie in 0..{c.vocab - 1}")
        return tokens

    def _forward(self, tokens, cache: KVCache, start: int, all_logits: bool):
        tokens = self._checked(tokens, cache, start)
        B, T = tokens.shape
        return self._run(self.xp.asarray(tokens), cache, start, self.ops.at(B, T, start), all_logits)

    def _run(self, tokens, cache: KVCache, start: int, at, all_logits: bool):
        """The layers on checked tokens (B, T); `at` from self.ops.at (or a graph's position buffer)."""
        c, xp, ops = self.config, self.xp, self.ops
        B, T = tokens.shape
        x = self.embed[tokens.reshape(-1)]  # (B*T, d)
        for i, (attn_norm, wqkv, wo, ffn_norm, wgu, wdown) in enumerate(self.layers):
            qkv = self._mm(ops.rms_norm(x, attn_norm), wqkv)
            q = ops.rope_store(qkv, cache, i, B, T, start, at)
            att = ops.attention(q, cache, i, B, T, start, at)
            x += self._mm(att.reshape(B * T, c.d_model), wo)
            gu = self._mm(ops.rms_norm(x, ffn_norm), wgu)
            x += self._mm(ops.swiglu(gu), wdown)
        if not all_logits:
            x = x.reshape(B, T, c.d_model)[:, -1]
        logits = self._mm(xp.ascontiguousarray(ops.rms_norm(x, self.final_norm)), self.lm_head)
        return logits.reshape(B, T, c.vocab) if all_logits else logits

    def prefill(self, tokens, cache: KVCache, *, all_logits: bool = False):
        """The prompt (B, T) from position 0: fills the cache, returns the last position's logits."""
        return self.forward(tokens, cache, 0, all_logits=all_logits)

    def decode(self, tokens, cache: KVCache, position: int):
        """One new token per sequence (B,) at `position` (the number of tokens already cached).

        With the cupy GEMM backend on a GPU the step is captured once per cache as a CUDA graph and
        replayed at every position (kernels/inference/graph.py); `graph_error` says why not, if it failed.
        """
        if not hasattr(tokens, "__cuda_array_interface__"):
            tokens = np.asarray(tokens)
        tokens = tokens.reshape(-1, 1)
        if self.use_graphs:
            from kernels.inference import graph

            try:
                with self.current():
                    return graph.decode(self, tokens, cache, position)
            except graph.CaptureError as exc:
                self.use_graphs, self.graph_error = False, str(exc)
        return self.forward(tokens, cache, position)
