"""Decode steps captured once as a CUDA graph and replayed at every position (cupy GEMM backend).

A decode step of SmolLM2-135M is ~330 kernels even with the fused ones (kernels/inference/cuda_ops.py);
launched one by one from Python they cost more host time than the GPU spends on them. Captured into a
graph, a step is one launch. What makes one graph serve every position: the kernels read the position
and the tokens from device buffers (filled before each replay), attention covers positions 0..pos[0] of
a cache whose address never changes, and every temporary comes from a memory pool private to the graph,
so no other allocation can reuse an address the graph writes to. With the cupy GEMM backend the products
call cuBLAS through kernels/runtime/cublas_capture.py (CuPy's own cuBLAS bindings refuse to run while a
stream captures); with numba-cuda they are Numba kernels launched on the capturing stream into outputs
from the graph's pool (kernels/inference/device.py: NumbaOperands).

Correctness does not rest on this file: the workload and the GPU tests compare the logits of every
decode step with the float64 reference. Set SITEBENCH_CUDA_GRAPHS=0 to run decode steps eagerly.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

ENV = "SITEBENCH_CUDA_GRAPHS"


class CaptureError(RuntimeError):
    """The step could not be captured; the model falls back to eager launches and keeps the reason."""


def supported(model) -> tuple[bool, str]:
    """Whether `model` replays decode steps as graphs, and if not, why."""
    if os.environ.get(ENV, "1") == "0":
        return False, f"{ENV}=0"
    if not getattr(model.ops, "fused", False):
        return False, "no fused CUDA kernels here (host or stand-in arrays)"
    return True, ""


class DecodeGraph:
    """One model's decode step on one cache: token and position buffers in, logits buffer out."""

    def __init__(self, model, cache):
        cp = model.xp
        self.model, self.cache = model, cache  # held: the graph writes to their memory
        self.stream = cp.cuda.Stream(non_blocking=True)
        self.pool = cp.cuda.MemoryPool()
        self.tokens = cp.zeros((cache.batch, 1), dtype=np.int64)
        self.position = cp.zeros(1, dtype=np.int32)
        self.inputs_ready = cp.cuda.Event(disable_timing=True)
        self.step_done = cp.cuda.Event(disable_timing=True)
        self.graph = self.logits = None

    def _step(self, position: int):
        return self.model._run(self.tokens, self.cache, position, self.position, False)

    def _capture(self, position: int) -> None:
        from kernels.runtime import cublas_capture

        cp, stream = self.model.xp, self.stream
        with cp.cuda.using_allocator(self.pool.malloc), stream, cublas_capture.active():
            self._step(position)  # warm-up: compiles, fills the pool; writes the same K/V the graph will
            stream.synchronize()
            stream.begin_capture()
            try:
                logits = self._step(position)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    stream.end_capture()
                raise CaptureError(f"CUDA graph capture of the decode step failed: {type(exc).__name__}: {exc}") from exc
            self.graph, self.logits = stream.end_capture(), logits

    def __call__(self, tokens: np.ndarray, position: int):
        cp, stream = self.model.xp, self.stream
        caller = cp.cuda.get_current_stream()
        self.inputs_ready.record(caller)  # the cache as the caller's earlier work (prefill) left it
        stream.wait_event(self.inputs_ready)
        self.tokens.set(tokens, stream=stream)  # (B, 1) int64, as decode() made it
        self.position.set(np.array([position], dtype=np.int32), stream=stream)
        if self.graph is None:
            self._capture(position)
        self.graph.launch(stream=stream)
        self.step_done.record(stream)
        caller.wait_event(self.step_done)
        return self.logits.copy()  # the caller's own array: the buffer is overwritten by the next step


def decode(model, tokens, cache, position: int):
    """model.decode of tokens (B, 1) through the cache's graph for this model (captured on first use)."""
    tokens = model._checked(tokens, cache, position)
    host = model.xp.asnumpy(tokens) if hasattr(tokens, "__cuda_array_interface__") else tokens
    host = np.ascontiguousarray(host, dtype=np.int64)
    step = cache.graphs.get(id(model))
    if step is None:
        if not model.ops.decodes_on_device(cache):
            raise CaptureError(f"a cache of {cache.length} positions does not fit the attention kernel's shared memory")
        step = cache.graphs[id(model)] = DecodeGraph(model, cache)
    try:
        return step(host, position)
    except CaptureError:
        cache.graphs.pop(id(model), None)
        raise
