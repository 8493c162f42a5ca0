"""The oracle: a float64 NumPy forward of the whole sequence, written from the formulas, no KV cache.

Deliberately independent of model.py: rotary embeddings as complex rotations of the pairs
`(x_i, x_{i+half})`, attention one query head at a time with its KV head `h // group`, an explicit
causal mask. Slow and simple; every backend's logits are compared with it.
"""

from __future__ import annotations

import numpy as np

from kernels.inference.weights import Weights

SCRATCH_BYTES = 64 << 20  # float64 rows of a weight matrix at a time (see times_transposed)


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


def times_transposed(x: np.ndarray, w: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """x @ w.T in float64, for w (out, in) of any float dtype, converted a block of rows at a time into the
    reused float64 `scratch`: at Llama-3-8B's shapes a float64 copy of each whole matrix was half the
    forward's time, most of it faulting in fresh pages."""
    rows = max(1, scratch.size // w.shape[1])
    out = np.empty((x.shape[0], w.shape[0]))
    for first in range(0, w.shape[0], rows):
        part = w[first : first + rows]
        block = scratch[: part.size].reshape(part.shape)
        np.copyto(block, part)
        out[:, first : first + len(part)] = x @ block.T
    return out


def forward(weights: Weights, tokens) -> np.ndarray:
    """Logits (T, vocab) in float64 for one sequence of token ids, every position attending causally."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"reference.forward takes one non-empty sequence of token ids, got shape {tokens.shape}")
    return forward_many(weights, tokens[None, :])[0]


def forward_many(weights: Weights, tokens, last: int | None = None) -> np.ndarray:
    """Logits (B, T, vocab) for B independent sequences of equal length T (each weight converted once);
    with `last`, of the last `last` positions only (B, last, vocab): every position still feeds the
    attention, but only those go through the LM head (at Llama-3's vocabulary of 128256 and 512 tokens,
    the head over every position is a third of the forward's work, and a gigabyte of logits a sequence)."""
    c = weights.config
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.size == 0:
        raise ValueError(f"reference.forward_many takes (sequences, tokens) ids, got shape {tokens.shape}")
    B, T = tokens.shape
    if T > c.max_context:
        raise ValueError(f"sequence of {T} tokens is longer than the context of {c.max_context}")
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    scratch = np.empty(SCRATCH_BYTES // 8)
    times = lambda a, w: times_transposed(a, w, scratch)  # noqa: E731 - a @ w.T
    hd = c.head_dim
    pos = np.arange(T)
    causal = np.tril(np.ones((T, T), dtype=bool))
    x = f64(weights.embed[tokens.reshape(-1)])  # rows first: the table itself may be gigabytes
    for layer in weights.layers:
        h = rms_norm(x, f64(layer.attn_norm), c.rms_eps)
        q = times(h, layer.wq).reshape(B, T, c.n_heads, hd)
        k = times(h, layer.wk).reshape(B, T, c.n_kv_heads, hd)
        v = times(h, layer.wv).reshape(B, T, c.n_kv_heads, hd)
        heads = []
        for s in range(B):
            qs, ks = rotary(q[s], pos, c.rope_theta), rotary(k[s], pos, c.rope_theta)
            for head in range(c.n_heads):
                kv = head // c.group
                scores = qs[:, head, :] @ ks[:, kv, :].T / np.sqrt(hd)
                scores = np.where(causal, scores, -np.inf)
                p = np.exp(scores - scores.max(axis=-1, keepdims=True))
                heads.append((p / p.sum(axis=-1, keepdims=True)) @ v[s, :, kv, :])
        attended = np.stack(heads).reshape(B, c.n_heads, T, hd).transpose(0, 2, 1, 3).reshape(B * T, -1)
        x = x + times(attended, layer.wo)
        h = rms_norm(x, f64(layer.ffn_norm), c.rms_eps)
        x = x + times(silu(times(h, layer.w_gate)) * times(h, layer.w_up), layer.w_down)
    x = x.reshape(B, T, -1)[:, T - min(last or T, T):]
    logits = times(rms_norm(x, f64(weights.final_norm), c.rms_eps).reshape(-1, c.d_model), weights.head)
    return logits.reshape(B, x.shape[1], -1)


def greedy_predictions(weights: Weights, prompt, generated) -> np.ndarray:
    """What greedy decoding picks after the prompt and each generated token, from one forward pass.

    Generated ids equal the reference's greedy continuation exactly when they equal these predictions
    (teacher forcing: step i sees prompt + generated[:i], as in generation).
    """
    seq = [int(t) for t in prompt] + [int(t) for t in generated]
    logits = forward(weights, seq[:-1] if generated else seq)
    return np.argmax(logits[len(prompt) - 1 :], axis=-1)
