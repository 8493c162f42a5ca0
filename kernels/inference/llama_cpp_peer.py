"""The peer: llama.cpp (through llama-cpp-python, where it happens to be importable) on the same GGUF.

It runs the Q4_1 file as llama.cpp does (quantised weights, its own kernels), one sequence at a time,
so it stands beside our batch-1 figures. Imported lazily; `available()` says why it cannot run.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from kernels.inference import gguf_loader


def available() -> tuple[bool, str]:
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama_cpp is not importable (pip install llama-cpp-python, a source build here)"
    try:
        import llama_cpp  # noqa: F401 - installed with --no-deps it can lack its own imports (diskcache)
    except Exception as exc:  # noqa: BLE001 - a broken build fails in many ways
        return False, f"llama_cpp is installed but does not import ({type(exc).__name__}: {exc})"
    return gguf_loader.available()


class Peer:
    """One llama.cpp context on the GGUF, reused for prefill, repeated decode steps and greedy runs."""

    def __init__(self, n_ctx: int, threads: int):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(gguf_loader.gguf_path()), n_ctx=n_ctx, n_threads=threads,
                         n_threads_batch=threads, n_batch=min(n_ctx, 512), logits_all=False, verbose=False)
        self.vocab = self.llm.n_vocab()

    def _last_logits(self) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab,)).copy()

    def prefill(self, tokens) -> np.ndarray:
        """The prompt from position 0; the last position's logits."""
        self.llm.reset()
        self.llm.eval([int(t) for t in tokens])
        return self._last_logits()

    def decode(self, token: int, position: int) -> np.ndarray:
        """One token at `position`, dropping anything cached after it (repeatable for timing)."""
        self.llm.n_tokens = position
        self.llm.eval([int(token)])
        return self._last_logits()

    def greedy(self, prompt, max_new_tokens: int, stop_ids=()) -> list[int]:
        out: list[int] = []
        logits = self.prefill(prompt)
        for _ in range(max_new_tokens):
            nxt = int(np.argmax(logits))
            out.append(nxt)
            if nxt in stop_ids:
                break
            logits = self.decode(nxt, self.llm.n_tokens)
        return out
