"""Greedy generation: prefill the prompt once, then decode one token at a time from the KV cache."""

from __future__ import annotations

import numpy as np

from kernels.inference.model import Model


def greedy(model: Model, prompts, max_new_tokens: int, stop_ids=()) -> list[list[int]]:
    """Greedy continuations of equal-length prompts (B, T); each stops at a stop id (kept) or the limit.

    ValueError when prompt plus new tokens exceed the model's context.
    """
    prompts = np.atleast_2d(np.asarray(prompts, dtype=np.int64))
    B, T = prompts.shape
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1 (got {max_new_tokens})")
    context = model.config.max_context
    if T + max_new_tokens - 1 > context:
        raise ValueError(
            f"prompt of {T} tokens plus {max_new_tokens} new ones exceeds the context of {context}; "
            "shorten the prompt or ask for fewer tokens"
        )
    cache = model.new_cache(B, T + max_new_tokens - 1)
    logits = model.prefill(prompts, cache)
    out: list[list[int]] = [[] for _ in range(B)]
    done = np.zeros(B, dtype=bool)
    for step in range(max_new_tokens):
        nxt = model.to_host(logits.argmax(axis=-1)).astype(np.int64)
        for b in range(B):
            if not done[b]:
                out[b].append(int(nxt[b]))
                done[b] = int(nxt[b]) in stop_ids
        if done.all() or step == max_new_tokens - 1:
            break
        logits = model.decode(nxt, cache, T + step)
    return out
