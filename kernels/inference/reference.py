"""The oracle: a float64 NumPy forward of the whole sequence, written from the formulas, no KV cache.

Deliberately independent of model.py: rotary embeddings as complex rotations of the pairs
`(x_i, x_{i+half})`, attention one query head at a time with its KV head `h // group`, an explicit
causal mask. Slow and simple; every backend's logits are compared with it.
"""

from __future__ import annotations

import numpy as np

from kernels.inference.weights import Weights


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotary(x: np.ndarray, positions: np.ndarray, theta: float) -> np.ndarray:
    """x (T, heads, head_dim): rotate pair (i, i+half) of position p by angle p * theta^(-2i/head_dim)."""
    half = x.shape[-1] // 2
    freq = theta ** (-np.arange(half, dtype=np.float64) * 2 / x.shape[-1])
    turn = np.exp(1j * np.outer(positions, freq))[:, None, :]  # (T, 1, half)
    z = (x[..., :half] + 1j * x[..., half:]) * turn
    return np.concatenate([z.real, z.imag], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward(weights: Weights, tokens) -> np.ndarray:
    """Logits (T, vocab) in float64 for one sequence of token ids, every position attending causally."""
    c = weights.config
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) == 0:
        raise ValueError(f"reference.forward takes one non-empty sequence of token ids, got shape {tokens.shape}")
    if len(tokens) > c.max_context:
        raise ValueError(f"sequence of {len(tokens)} tokens is longer than the context of {c.max_context}")
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    T, hd = len(tokens), c.head_dim
    pos = np.arange(T)
    causal = np.tril(np.ones((T, T), dtype=bool))
    x = f64(weights.embed[tokens])  # rows first: the table itself may be gigabytes
    for layer in weights.layers:
        h = rms_norm(x, f64(layer.attn_norm), c.rms_eps)
        q = rotary((h @ f64(layer.wq).T).reshape(T, c.n_heads, hd), pos, c.rope_theta)
        k = rotary((h @ f64(layer.wk).T).reshape(T, c.n_kv_heads, hd), pos, c.rope_theta)
        v = (h @ f64(layer.wv).T).reshape(T, c.n_kv_heads, hd)
        heads = []
        for head in range(c.n_heads):
            kv = head // c.group
            scores = q[:, head, :] @ k[:, kv, :].T / np.sqrt(hd)
            scores = np.where(causal, scores, -np.inf)
            p = np.exp(scores - scores.max(axis=-1, keepdims=True))
            heads.append((p / p.sum(axis=-1, keepdims=True)) @ v[:, kv, :])
        x = x + np.concatenate(heads, axis=-1) @ f64(layer.wo).T
        h = rms_norm(x, f64(layer.ffn_norm), c.rms_eps)
        x = x + (silu(h @ f64(layer.w_gate).T) * (h @ f64(layer.w_up).T)) @ f64(layer.w_down).T
    return rms_norm(x, f64(weights.final_norm), c.rms_eps) @ f64(weights.head).T


def greedy_predictions(weights: Weights, prompt, generated) -> np.ndarray:
    """What greedy decoding picks after the prompt and each generated token, from one forward pass.

    Generated ids equal the reference's greedy continuation exactly when they equal these predictions
    (teacher forcing: step i sees prompt + generated[:i], as in generation).
    """
    seq = [int(t) for t in prompt] + [int(t) for t in generated]
    logits = forward(weights, seq[:-1] if generated else seq)
    return np.argmax(logits[len(prompt) - 1 :], axis=-1)
