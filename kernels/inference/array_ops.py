"""The decoder's steps between its matrix products, as array code in `xp` (NumPy on the host, CuPy on a GPU):
pure functions (RMSNorm, RoPE, grouped-query attention, SwiGLU) and `ArrayOps`, which the model calls per layer.
kernels/inference/cuda_ops.py fuses the same steps into CUDA kernels and falls back to these."""

from __future__ import annotations

import numpy as np

from kernels.inference.config import ModelConfig


def rms_norm(x, w, eps: float, xp=np):
    """x / rms(x) * w over the last axis, in float32 (a sum, not xp.mean: fewer calls per token)."""
    ms = (x * x).sum(axis=-1, keepdims=True)
    ms *= np.float32(1 / x.shape[-1])
    ms += np.float32(eps)
    return x / xp.sqrt(ms, out=ms) * w


def rope_tables(head_dim: int, length: int, theta: float):
    """cos and sin (length, head_dim/2) of position * theta^(-2i/head_dim), float32 from float64."""
    half = head_dim // 2
    angles = np.outer(np.arange(length, dtype=np.float64), theta ** (-np.arange(half) * 2.0 / head_dim))
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rope(x, cos, sin, xp=np):
    """Rotate-half rotary embedding of x (tokens, heads, head_dim); cos/sin (tokens, head_dim/2).

    Pair (i, i + half) of each head turns by the angle of its token's position.
    """
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    out = xp.empty_like(x)
    out[..., :half] = x1 * c - x2 * s
    out[..., half:] = x2 * c + x1 * s
    return out


def attention(q, k_cache, v_cache, start: int, xp=np):
    """Grouped-query causal attention of new queries against the cache, without repeating K/V.

    q (B, T, n_heads, hd), already scaled by 1/sqrt(hd), for positions start..start+T-1;
    k_cache / v_cache (B, n_kv, max_len, hd) holding positions 0..start+T-1. Query head h reads KV
    head h // group. Returns (B, T, n_heads * hd).
    """
    B, T, n_heads, hd = q.shape
    n_kv = k_cache.shape[1]
    group = n_heads // n_kv
    length = start + T
    qg = q.reshape(B, T, n_kv, group, hd).transpose(0, 2, 3, 1, 4).reshape(B, n_kv, group * T, hd)
    scores = xp.matmul(qg, k_cache[:, :, :length].transpose(0, 1, 3, 2))  # (B, n_kv, group*T, length)
    if T > 1:
        visible = xp.arange(length)[None, :] <= (start + xp.arange(T))[:, None]  # (T, length)
        scores = xp.where(xp.tile(visible, (group, 1)), scores, np.float32(-np.inf))
    scores -= scores.max(axis=-1, keepdims=True)
    p = xp.exp(scores, out=scores)
    p /= p.sum(axis=-1, keepdims=True)
    out = xp.matmul(p, v_cache[:, :, :length])  # (B, n_kv, group*T, hd)
    return out.reshape(B, n_kv, group, T, hd).transpose(0, 3, 1, 2, 4).reshape(B, T, n_heads * hd)


def swiglu(gate_up, d_ffn: int, xp=np):
    """silu(gate) * up of the fused (tokens, 2 ffn) product."""
    g, u = gate_up[:, :d_ffn], gate_up[:, d_ffn:]
    return g / (1 + xp.exp(-g)) * u


class ArrayOps:
    """The steps between the matrix products as array code in `xp`: NumPy on the host, CuPy (or a stand-in)
    where kernels/inference/cuda_ops.py's fused kernels are not at hand. `at(B, T, start)` is what the
    rotary and attention steps need of the positions: here the cos/sin rows, tiled over the batch once
    per forward pass."""

    fused = False

    def __init__(self, config: ModelConfig, cos, sin, xp=np):
        self.c, self.cos, self.sin, self.xp = config, cos, sin, xp

    def at(self, B: int, T: int, start: int):
        cos, sin = self.cos[start : start + T], self.sin[start : start + T]
        return self.xp.tile(cos, (B, 1)), self.xp.tile(sin, (B, 1))  # rows follow x: batch-major, then position

    def rms_norm(self, x, w):
        return rms_norm(x, w, self.c.rms_eps, self.xp)

    def rope_store(self, qkv, cache, layer: int, B: int, T: int, start: int, at):
        """Rotated Q (B*T, nh, hd); rotated K and V written into the cache at start..start+T-1."""
        c, xp = self.c, self.xp
        d, nh, nkv, hd = c.d_model, c.n_heads, c.n_kv_heads, c.head_dim
        qk = rope(qkv[:, : d + c.kv_dim].reshape(B * T, nh + nkv, hd), *at, xp)
        cache.k[layer, :, :, start : start + T] = qk[:, nh:].reshape(B, T, nkv, hd).transpose(0, 2, 1, 3)
        cache.v[layer, :, :, start : start + T] = qkv[:, d + c.kv_dim :].reshape(B, T, nkv, hd).transpose(0, 2, 1, 3)
        return qk[:, :nh]

    def attention(self, q, cache, layer: int, B: int, T: int, start: int, at):
        c = self.c
        return attention(q.reshape(B, T, c.n_heads, c.head_dim), cache.k[layer], cache.v[layer], start, self.xp)

    def swiglu(self, gu):
        return swiglu(gu, self.c.d_ffn, self.xp)
