"""Model weights on the host, in the Hugging Face layout: seeded random by default, real from the GGUF.

Matrices are float32 `(out_features, in_features)` as in `torch.nn.Linear`, with the rotary-embedding
layout of Hugging Face Llama checkpoints (rotate-half pairs `(i, i + head_dim/2)`). The model fuses and
transposes them for its GEMM backend; the float64 reference reads them as they are.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from kernels.inference.config import ModelConfig

LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")


@dataclass
class LayerWeights:
    attn_norm: np.ndarray  # (d,)
    wq: np.ndarray  # (n_heads * head_dim, d)
    wk: np.ndarray  # (n_kv_heads * head_dim, d)
    wv: np.ndarray  # (n_kv_heads * head_dim, d)
    wo: np.ndarray  # (d, n_heads * head_dim)
    ffn_norm: np.ndarray  # (d,)
    w_gate: np.ndarray  # (ffn, d)
    w_up: np.ndarray  # (ffn, d)
    w_down: np.ndarray  # (d, ffn)


def layer_shapes(c: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of each array of one layer, in LayerWeights' order (matrices as (out, in) features)."""
    return {"attn_norm": (c.d_model,), "wq": (c.d_model, c.d_model), "wk": (c.kv_dim, c.d_model),
            "wv": (c.kv_dim, c.d_model), "wo": (c.d_model, c.d_model), "ffn_norm": (c.d_model,),
            "w_gate": (c.d_ffn, c.d_model), "w_up": (c.d_ffn, c.d_model), "w_down": (c.d_model, c.d_ffn)}


@dataclass
class Weights:
    config: ModelConfig
    embed: np.ndarray  # (vocab, d)
    layers: list[LayerWeights]
    final_norm: np.ndarray  # (d,)
    lm_head: np.ndarray | None  # (vocab, d); None when tied to the embedding
    source: str  # "random seed N" or the GGUF file name and its quantisation

    @property
    def head(self) -> np.ndarray:
        """The LM head matrix (vocab, d): its own, or the embedding when tied."""
        return self.embed if self.lm_head is None else self.lm_head

    def check(self) -> "Weights":
        """ValueError when a matrix does not have the shape the config asks for."""
        c = self.config
        expect = layer_shapes(c)
        if self.embed.shape != (c.vocab, c.d_model):
            raise ValueError(f"embedding is {self.embed.shape}, config {c.name} wants {(c.vocab, c.d_model)}")
        if len(self.layers) != c.n_layers:
            raise ValueError(f"{len(self.layers)} layers of weights, config {c.name} wants {c.n_layers}")
        for i, layer in enumerate(self.layers):
            for name, shape in expect.items():
                got = getattr(layer, name).shape
                if got != shape:
                    raise ValueError(f"layer {i} {name} is {got}, config {c.name} wants {shape}")
        if self.lm_head is not None and self.lm_head.shape != self.embed.shape:
            raise ValueError(f"lm_head is {self.lm_head.shape}, config {c.name} wants {self.embed.shape}")
        return self


def _uniform(rng: np.random.Generator, out: int, inp: int) -> np.ndarray:
    """Uniform weights with variance 1/inp, so activations keep their scale through each product."""
    bound = np.float32(np.sqrt(3.0 / inp))
    w = rng.random((out, inp), dtype=np.float32)
    w *= 2 * bound
    w -= bound
    return w


def _norm(rng: np.random.Generator, d: int) -> np.ndarray:
    return (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)


def _draw(shape: tuple[int, ...]):
    """rng -> a random array of `shape`: a norm's weights for a vector, a matrix's uniform ones."""
    if len(shape) == 1:
        return functools.partial(_norm, d=shape[0])
    return functools.partial(_uniform, out=shape[0], inp=shape[1])


def random_weights(config: ModelConfig, seed: int = 0) -> Weights:
    """Seeded random weights of the config's shapes: always available, offline, reproducible. Each array
    has a stream of its own from the seed (SeedSequence.spawn), so they are drawn in parallel (NumPy fills
    arrays without the GIL) and come out the same on any number of cores. (Llama-3-8B's four layers and
    vocabulary are 1.9 billion numbers: on the 2-core development VM 32-36 s drawn one after another,
    21 s in parallel.)"""
    c = config.validate()
    shapes = layer_shapes(c)
    draws = [_draw(shape) for _ in range(c.n_layers) for shape in shapes.values()]
    draws += [lambda rng: rng.standard_normal((c.vocab, c.d_model), dtype=np.float32),  # the embedding
              _draw((c.d_model,))]  # the final norm
    if not c.tied_embeddings:
        draws.append(_draw((c.vocab, c.d_model)))  # the LM head
    streams = np.random.SeedSequence(seed).spawn(len(draws))
    with ThreadPoolExecutor(max_workers=min(len(draws), os.cpu_count() or 1)) as pool:
        arrays = iter(pool.map(lambda draw, stream: draw(np.random.default_rng(stream)), draws, streams))
    layers = [LayerWeights(**{name: next(arrays) for name in shapes}) for _ in range(c.n_layers)]
    embed, final_norm = next(arrays), next(arrays)
    head = None if c.tied_embeddings else next(arrays)
    return Weights(c, embed, layers, final_norm, head, f"random seed {seed}").check()
