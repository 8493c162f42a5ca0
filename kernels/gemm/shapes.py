"""The GEMM shapes worth measuring, `MxNxK` parsing, and the operand shape checks every backend shares.

C (M,N) = A (M,K) @ B (K,N); a shape is written `MxNxK` as DeepBench does. The sets:
- `square`: 256..8192 cubed;
- `llama3-8b` / `llama3-70b`: the six distinct GEMMs of one decoder layer (Q, K, V, O projections and the
  gate, up, down projections of the MLP) at M = 1 (decode), 16, 128 and 2048 tokens (prefill), with the
  weight as B (K = input width, N = output width); K and V have the same shape (grouped-query attention);
- `deepbench`: DeepBench inference GEMMs (baidu-research/DeepBench, inference/server);
- `quick`: small shapes for CI and `--quick`, including ragged ones and M = 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    m: int
    n: int
    k: int
    name: str = ""  # e.g. "llama3-8b gate M=16"; empty for ad-hoc shapes
    group: str = ""  # "square" | "llama3-8b" | "llama3-70b" | "deepbench" | "quick" | ""

    @property
    def flop(self) -> int:
        """Multiply-adds counted as two operations: 2*M*N*K per call."""
        return 2 * self.m * self.n * self.k

    @property
    def text(self) -> str:
        return f"{self.m}x{self.n}x{self.k}"


# Llama 3 decoder layers (Meta's published configs): hidden size, query heads, KV heads, head dim,
# MLP width. K and V projections share a shape, so it is listed once as "k/v".
LLAMA3 = {
    "llama3-8b": dict(hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336),
    "llama3-70b": dict(hidden=8192, heads=64, kv_heads=8, head_dim=128, ffn=28672),
}
LLAMA_TOKENS = (1, 16, 128, 2048)
SQUARE = (256, 512, 1024, 2048, 4096, 8192)
DEEPBENCH = ((5124, 700, 2048), (35, 700, 2048), (7680, 1, 2560), (3072, 4, 1024))


def llama_layer(model: str, tokens: int) -> list[Shape]:
    """(K, N) of each projection of one decoder layer, for `tokens` rows of activations."""
    c = LLAMA3[model]
    h, q, kv, f = c["hidden"], c["heads"] * c["head_dim"], c["kv_heads"] * c["head_dim"], c["ffn"]
    projections = {"q": (h, q), "k/v": (h, kv), "o": (q, h), "gate/up": (h, f), "down": (f, h)}
    return [Shape(tokens, n, k, f"{model} {p} M={tokens}", model) for p, (k, n) in projections.items()]


def square() -> list[Shape]:
    return [Shape(s, s, s, f"square {s}", "square") for s in SQUARE]


def llama() -> list[Shape]:
    return [s for model in LLAMA3 for t in LLAMA_TOKENS for s in llama_layer(model, t)]


def deepbench() -> list[Shape]:
    return [Shape(m, n, k, f"deepbench {m}x{n}x{k}", "deepbench") for m, n, k in DEEPBENCH]


def quick() -> list[Shape]:
    """Small shapes: square, decode-like M = 1, a ragged one and a thin DeepBench-like one."""
    sizes = ((256, 256, 256), (512, 512, 512), (1, 1024, 1024), (16, 1024, 512), (97, 131, 67), (35, 700, 256))
    return [Shape(m, n, k, f"quick {m}x{n}x{k}", "quick") for m, n, k in sizes]


def all_shapes() -> list[Shape]:
    return square() + llama() + deepbench()


CPU_MAX_FLOP = 2 * 2048**3  # per call: about a tenth of a second on a laptop
CPU_MAX_B = 2**27  # elements of B (512 MB in fp32): the Llama-70B MLP weights stay off small machines


def select(kind: str, *, quick_run: bool = False) -> list[Shape]:
    """The shapes to run on a device of `kind` ("cpu" | "gpu" | "simulator").

    GPUs get every shape (quick: the small ones plus 2048^3, 4096^3 and one DeepBench shape); CPUs
    those up to CPU_MAX_FLOP per call and CPU_MAX_B elements of B, so a full run stays minutes and fits
    a laptop's memory; the CUDA simulator one tiny shape.
    """
    if kind == "simulator":
        return [Shape(19, 33, 21, "simulator 19x33x21", "quick")]
    if kind == "gpu":
        if not quick_run:
            return all_shapes()
        return quick() + [s for s in square() if s.m in (2048, 4096)] + deepbench()[:1]
    if quick_run:
        return quick()
    return [s for s in all_shapes() if s.flop <= CPU_MAX_FLOP and s.k * s.n <= CPU_MAX_B]


_SHAPE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_shape(text: str) -> Shape:
    """'MxNxK' -> Shape(m, n, k); ValueError with one line saying what is wrong and what to write."""
    match = _SHAPE.match(str(text))
    if not match:
        raise ValueError(f"bad GEMM shape {text!r}; write MxNxK with three positive whole numbers, e.g. 2048x2048x2048")
    m, n, k = (int(g) for g in match.groups())
    if min(m, n, k) < 1:
        raise ValueError(f"bad GEMM shape {text!r}: M, N and K must each be at least 1")
    return Shape(m, n, k)


def check_operands(a_shape: tuple, b_shape: tuple) -> tuple[int, int, int]:
    """(m, n, k) of A @ B, or ValueError naming both shapes and the rule they break."""
    if len(a_shape) != 2 or len(b_shape) != 2:
        raise ValueError(
            f"A and B must be 2-D matrices; got A with shape {tuple(a_shape)} and B with shape {tuple(b_shape)}"
        )
    (m, k), (kb, n) = a_shape, b_shape
    if k != kb:
        raise ValueError(
            f"A is {m}x{k} but B is {kb}x{n}: A's columns ({k}) must equal B's rows ({kb}) for C = A @ B"
        )
    if min(m, n, k) < 1:
        raise ValueError(f"A is {m}x{k} and B is {kb}x{n}: every dimension must be at least 1")
    return m, n, k
