"""Model shapes: SmolLM2-135M (the real weights we ship a reader for) and a Llama-3-8B-shaped stack.

A config is pure data plus `validate()`; every bad shape raises ValueError naming the field and the fix,
so the CLI can turn it into one line and exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ModelConfig:
    name: str
    n_layers: int
    d_model: int
    d_ffn: int
    n_heads: int
    n_kv_heads: int
    vocab: int
    rope_theta: float
    rms_eps: float = 1e-5
    tied_embeddings: bool = True
    max_context: int = 2048

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def group(self) -> int:
        """Query heads per KV head (grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def layer_params(self) -> int:
        attn = self.d_model * (self.d_model + 2 * self.kv_dim) + self.d_model * self.d_model
        return attn + 3 * self.d_model * self.d_ffn + 2 * self.d_model

    def params(self) -> int:
        """All weights, the embedding counted once when tied."""
        head = 0 if self.tied_embeddings else self.vocab * self.d_model
        return self.n_layers * self.layer_params() + self.vocab * self.d_model + head + self.d_model

    def matmul_params(self) -> int:
        """Weights that take part in a matrix product per token: the layers and the LM head."""
        return self.n_layers * (self.layer_params() - 2 * self.d_model) + self.vocab * self.d_model

    def validate(self) -> "ModelConfig":
        positive = ("n_layers", "d_model", "d_ffn", "n_heads", "n_kv_heads", "vocab", "max_context")
        for field in positive:
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model {self.name}: {field} must be a positive whole number (got {value!r})")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model {self.name}: n_heads={self.n_heads} does not divide d_model={self.d_model}; "
                "choose heads so that d_model / n_heads is a whole head size"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"model {self.name}: head size {self.head_dim} is odd; rotary embeddings rotate pairs, "
                "choose n_heads so that d_model / n_heads is even"
            )
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"model {self.name}: n_kv_heads={self.n_kv_heads} does not divide n_heads={self.n_heads}; "
                "grouped-query attention needs a whole number of query heads per KV head"
            )
        if not self.rope_theta > 0 or not self.rms_eps > 0:
            raise ValueError(f"model {self.name}: rope_theta and rms_eps must be positive")
        return self

    def with_(self, **changes) -> "ModelConfig":
        """A validated copy with some fields changed (e.g. fewer layers for tests)."""
        return replace(self, **changes).validate()


# SmolLM2-135M(-Instruct): the figures stored in its GGUF (llama.block_count, ...embedding_length,
# ...feed_forward_length, ...attention.head_count(_kv), ...rope.freq_base = 100000, rms eps 1e-5).
SMOLLM2_135M = ModelConfig(
    name="smollm2-135m",
    n_layers=30,
    d_model=576,
    d_ffn=1536,
    n_heads=9,
    n_kv_heads=3,
    vocab=49152,
    rope_theta=100000.0,
    rms_eps=1e-5,
    tied_embeddings=True,
    max_context=8192,
)

# Llama-3-8B layer shapes (d 4096, ffn 14336, 32 query / 8 KV heads of 128, vocab 128256, rope theta
# 500000, separate LM head) with 4 of its 32 layers, so GPU runs see the real GEMM shapes in ~7.7 GB fp32.
LLAMA3_8B_4L = ModelConfig(
    name="llama3-8b-4l",
    n_layers=4,
    d_model=4096,
    d_ffn=14336,
    n_heads=32,
    n_kv_heads=8,
    vocab=128256,
    rope_theta=500000.0,
    rms_eps=1e-5,
    tied_embeddings=False,
    max_context=8192,
)

MODELS = {c.name: c for c in (SMOLLM2_135M, LLAMA3_8B_4L)}


def get(name: str) -> ModelConfig:
    """The named config; ValueError lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def parse(spec: str) -> ModelConfig:
    """'smollm2-135m' or 'smollm2-135m:n_layers=4,max_context=256': a known config, fields overridden.

    Whole-number fields only (the shape), so a spec can shrink a model for a quick try; ValueError
    for an unknown model or field, a value that is not a number, or a shape that does not validate.
    """
    name, _, overrides = spec.strip().partition(":")
    base = get(name.strip())
    changes = {}
    shape_fields = ("n_layers", "d_model", "d_ffn", "n_heads", "n_kv_heads", "vocab", "max_context")
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if key not in shape_fields or not eq:
            raise ValueError(f"bad model override {item!r}; write FIELD=N with FIELD one of {', '.join(shape_fields)}")
        try:
            changes[key] = int(value)
        except ValueError:
            raise ValueError(f"model override {key}={value!r} is not a whole number") from None
    return base.with_(**changes) if changes else base.validate()
