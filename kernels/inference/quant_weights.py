"""Decoder weights kept quantised (Q8_0 / Q4_1): from the GGUF as stored, or quantised from float32 weights.

Layout as weights.py (Hugging Face rows, rotate-half Q/K: the file's rotary row permutation is undone
on the quantised rows, which moves whole rows and changes no value). `dequantized()` gives the float32
Weights of exactly these quantised values, for the float64 reference ("the same quantised weights").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.inference import gguf_loader, quant
from kernels.inference import sources as weight_sources
from kernels.inference.config import ModelConfig
from kernels.inference.weights import LAYER_MATRICES, LayerWeights, Weights

MODES = ("q8_0", "q4_1", "bf16w")


@dataclass
class QuantWeights:
    config: ModelConfig
    embed: quant.QuantMatrix  # (vocab, d); also the LM head when tied
    layers: list[dict]  # per layer: LAYER_MATRICES -> QuantMatrix, "attn_norm"/"ffn_norm" -> float32 (d,)
    final_norm: np.ndarray
    lm_head: quant.QuantMatrix | None
    source: str

    @property
    def head(self) -> quant.QuantMatrix:
        return self.embed if self.lm_head is None else self.lm_head

    @property
    def layer_kind(self) -> str:
        return self.layers[0]["wq"].kind

    def dequantized(self) -> Weights:
        """float32 weights of exactly these quantised values."""
        layers = [LayerWeights(**{k: (v.dequantize() if isinstance(v, quant.QuantMatrix) else v) for k, v in lw.items()})
                  for lw in self.layers]
        head = None if self.lm_head is None else self.lm_head.dequantize()
        return Weights(self.config, self.embed.dequantize(), layers, self.final_norm, head,
                       f"{self.source}, dequantised").check()

    def embed_rows(self, ids: np.ndarray) -> np.ndarray:
        """float32 embedding rows of token ids (only those rows dequantised)."""
        return self.embed.rows(np.asarray(ids).reshape(-1)).dequantize()


def from_weights(weights: Weights, mode: str) -> QuantWeights:
    """Every matrix of float32 weights quantised to `mode` with ggml's reference rounding."""
    if mode not in MODES:
        raise ValueError(f"unknown quantisation {mode!r}; choose one of {', '.join(MODES)}")
    layers = []
    for lw in weights.layers:
        entry = {name: quant.quantize(getattr(lw, name), mode) for name in LAYER_MATRICES}
        entry.update(attn_norm=lw.attn_norm, ffn_norm=lw.ffn_norm)
        layers.append(entry)
    head = None if weights.lm_head is None else quant.quantize(weights.lm_head, mode)
    return QuantWeights(weights.config, quant.quantize(weights.embed, mode), layers, weights.final_norm, head,
                        f"{weights.source} quantised to {mode.upper()}")


def _file_matrix(name: str) -> quant.QuantMatrix:
    for t in gguf_loader.reader().tensors:
        if t.name == name:
            kind = t.tensor_type.name.lower()
            if kind not in quant.KINDS:
                raise ValueError(f"{gguf_loader.FILENAME}: {name} is {t.tensor_type.name}; this reader takes Q8_0 and Q4_1")
            return quant.from_gguf_bytes(kind, np.asarray(t.data))
    raise KeyError(f"{gguf_loader.FILENAME} has no tensor {name!r}")


def _unpermuted(w: quant.QuantMatrix, n_heads: int) -> quant.QuantMatrix:
    order = gguf_loader.unpermute(np.arange(w.shape[0])[:, None], n_heads)[:, 0]
    return w.rows(order)


def from_gguf(config: ModelConfig, mode: str = "q4_1") -> QuantWeights:
    """The file's first `config.n_layers` layers. "q4_1": every tensor exactly as stored (Q4_1 layers, the
    Q8_0 embedding/LM head), the weights llama.cpp runs. "q8_0": the layers re-quantised from their Q4_1
    values (the file holds no finer copy), the embedding as stored. "bf16w": every matrix in bfloat16
    from the file's values."""
    if mode not in MODES:
        raise ValueError(f"unknown quantisation {mode!r}; choose one of {', '.join(MODES)}")
    found = gguf_loader.file_config()
    if config.with_(n_layers=found.n_layers, max_context=found.max_context) != found:
        raise ValueError(f"{gguf_loader.FILENAME} holds {found}, which does not match config {config}")
    names = {"wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output", "w_gate": "ffn_gate",
             "w_up": "ffn_up", "w_down": "ffn_down"}
    layers = []
    for i in range(config.n_layers):
        p = f"blk.{i}."
        entry = {k: _file_matrix(p + v + ".weight") for k, v in names.items()}
        entry["wq"] = _unpermuted(entry["wq"], config.n_heads)
        entry["wk"] = _unpermuted(entry["wk"], config.n_kv_heads)
        if mode != entry["wq"].kind:
            entry = {k: quant.quantize(v.dequantize(), mode) for k, v in entry.items()}
        entry.update(attn_norm=gguf_loader.tensor(p + "attn_norm.weight"), ffn_norm=gguf_loader.tensor(p + "ffn_norm.weight"))
        layers.append(entry)
    embed = _file_matrix("token_embd.weight")
    head = None if config.tied_embeddings else _file_matrix("output.weight")
    how = "as stored" if mode == "q4_1" else f"layers re-quantised Q4_1 -> {mode.upper()}"
    if mode == "bf16w":  # every matrix bfloat16, so no product takes int8 activations
        embed = quant.quantize(embed.dequantize(), mode)
        head = None if head is None else quant.quantize(head.dequantize(), mode)
        how = "every matrix re-quantised to BF16W from the file's Q4_1 / Q8_0 values"
    return QuantWeights(config, embed, layers, gguf_loader.tensor("output_norm.weight"), head,
                        f"{gguf_loader.FILENAME} ({how})")


def load(config: ModelConfig, source: str, mode: str, weights: Weights | None = None, seed: int = 0) -> QuantWeights:
    """`source` "gguf" (the file) or anything else: `weights` (float32) quantised to `mode`."""
    if source == "gguf":
        return from_gguf(config, mode)
    if weights is None:
        weights = weight_sources.load(config, source, seed)
    return from_weights(weights, mode)
