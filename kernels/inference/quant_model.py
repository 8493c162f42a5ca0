"""The decoder on quantised weights (Q8_0 / Q4_1), run by quant_cpu's fused Numba kernels on the host.

Same interface and input checks as model.Model (prefill, decode, new_cache, ...), so the workload, the
greedy generator and the tests drive both alike; the difference is underneath: the weights stay in
their 32-value blocks, and one call runs every layer (quant_cpu.layers_forward: 3 parallel regions per
layer for a decode step, no Python between them), a second the final norm and the LM head. It belongs to
the numba-cpu backend (`BACKEND_MODULE`): those are its kernels, compiled with the same Numba settings.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads

from kernels.gemm import numba_cpu
from kernels.inference import quant, quant_cpu
from kernels.inference.model import KVCache, Model, rope_tables
from kernels.inference.quant import stack
from kernels.inference.quant_weights import MODES, QuantWeights

BACKEND_MODULE = numba_cpu  # the backend whose cases these are


def runs_on(gemm) -> bool:
    """True for the GEMM backend module this decoder belongs to."""
    return gemm is BACKEND_MODULE


class QuantModel(Model):
    """model.Model's interface over quantised weights; `dtype` is the layers' block format."""

    def __init__(self, weights: QuantWeights):
        self.config = weights.config.validate()
        self.gemm, self.device, self.on_device, self.xp = BACKEND_MODULE, 0, False, np
        self.dtype = weights.layer_kind
        if self.dtype not in MODES:
            raise ValueError(f"quantised layers must be one of {', '.join(MODES)}, got {self.dtype!r}")
        self.weights_source = weights.source
        self.use_graphs, self.graph_reason, self.graph_error = False, "host kernels", None
        self._weights = weights
        c = self.config
        lanes = {name: [] for name in ("qkv", "o", "gu", "down")}
        for lw in weights.layers:
            lanes["qkv"].append(quant_cpu.to_lanes(stack([lw["wq"], lw["wk"], lw["wv"]])))
            lanes["o"].append(quant_cpu.to_lanes(lw["wo"]))
            lanes["gu"].append(quant_cpu.interleave_groups(quant_cpu.to_lanes(lw["w_gate"]), quant_cpu.to_lanes(lw["w_up"])))
            lanes["down"].append(quant_cpu.to_lanes(lw["w_down"]))
        self.layer_bytes = sum(p.nbytes for parts in lanes.values() for p in parts)
        self.stacked = {name: quant_cpu.stack_layers(parts) for name, parts in lanes.items()}
        self.attn_norm = np.stack([lw["attn_norm"] for lw in weights.layers]).astype(np.float32)
        self.ffn_norm = np.stack([lw["ffn_norm"] for lw in weights.layers]).astype(np.float32)
        self.final_norm = np.asarray(weights.final_norm, dtype=np.float32)
        self.head = quant_cpu.to_lanes(weights.head)
        self.head_kind = weights.head.kind
        self.cos, self.sin = rope_tables(c.head_dim, c.max_context, c.rope_theta)
        self.layers_forward = quant_cpu.LAYERS[self.dtype]

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one forward pass reads: the file's blocks, scales and quants (the kernels' layout)."""
        return int(self.layer_bytes + self.head.nbytes)

    @property
    def dot_instructions(self) -> str:
        """What the weight products run on here: the int8 dot instruction set of Q8_0 / Q4_1 (avx512vnni,
        avx2, neon_dotprod, or plain loops: kernels/inference/vnni.py), or float FMAs for bfloat16 weights."""
        return quant_cpu.ISA if self.dtype in quant.INT8_KINDS else "fp32 FMA on widened bf16"

    @property
    def parallel_regions_per_decode(self) -> int:
        """prange regions one decode step of batch < quant_cpu.PARALLEL_ROWS enters: 3 per layer and the head
        (counted on a real decode step by tests/test_inference_quant.py)."""
        return quant_cpu.DECODE_REGIONS_PER_LAYER * self.config.n_layers + 1

    def _forward(self, tokens, cache: KVCache, start: int, all_logits: bool):
        c = self.config
        tokens = self._checked(tokens, cache, start)
        B, T = tokens.shape
        x = self._weights.embed_rows(tokens)  # (B*T, d) float32
        s = self.stacked
        self.layers_forward(x, T, start, self.attn_norm, self.ffn_norm, s["qkv"], s["o"], s["gu"], s["down"],
                            cache.k, cache.v, self.cos, self.sin, c.n_heads, c.n_kv_heads, np.float32(c.rms_eps),
                            get_num_threads())
        if not all_logits:
            x = np.ascontiguousarray(x.reshape(B, T, c.d_model)[:, -1])
        head = (self.head.q, self.head.s)
        logits = quant_cpu.project(self.head_kind, head, x, self.final_norm, c.rms_eps, self.head.rows)
        return logits.reshape(B, T, c.vocab) if all_logits else logits
