"""The SmolLM2 tokenizer rebuilt from the GGUF (`tokenizers` BPE) and its chat template.

The GGUF stores a GPT-2-style byte-level BPE (`tokenizer.ggml.model` = "gpt2", pre-tokenizer "smollm":
every digit on its own, then the GPT-2 split regex), its 49152 tokens, its merges and the token types;
control tokens (`<|im_start|>`, `<|im_end|>`, ...) are added as special tokens so they are never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kernels.inference import gguf_loader

CONTROL = 3  # llama.cpp token type of control tokens
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
FIXED_PROMPT = "What is the capital of France? Answer in one sentence."


@dataclass(frozen=True)
class SmolTokenizer:
    tokenizer: object  # tokenizers.Tokenizer
    bos_id: int
    eos_id: int
    stop_ids: tuple[int, ...]  # ids that end a reply: <|im_end|> and <|endoftext|>

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids, skip_special: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special)


def chat_text(user: str, system: str = DEFAULT_SYSTEM) -> str:
    """The GGUF's chat template rendered for one user turn, ready for the assistant's reply."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@lru_cache(maxsize=1)
def load() -> SmolTokenizer:
    """Build the tokenizer from the GGUF metadata; gguf_loader.Unavailable when it is not installed."""
    try:
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    except ImportError:
        raise gguf_loader.Unavailable(f"the tokenizers package is not installed; {gguf_loader.INSTALL_HINT}") from None
    f = gguf_loader.field
    if f("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"{gguf_loader.FILENAME}: tokenizer {f('tokenizer.ggml.model')!r} is not byte-level BPE")
    tokens = f("tokenizer.ggml.tokens")
    types = f("tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in f("tokenizer.ggml.merges")]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types) if k == CONTROL])
    eos = int(f("tokenizer.ggml.eos_token_id"))
    stops = tuple(sorted({eos, tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")} - {None}))
    return SmolTokenizer(tok, int(f("tokenizer.ggml.bos_token_id")), eos, stops)


def chat_prompt_ids(user: str = FIXED_PROMPT, system: str = DEFAULT_SYSTEM) -> list[int]:
    """Token ids of the chat-formatted prompt (no BOS: the GGUF says add_bos_token = false)."""
    return load().encode(chat_text(user, system))
