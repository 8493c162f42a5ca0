"""GGUF's Q8_0 and Q4_1 block formats in NumPy: split, dequantise, quantise, and int8 activations.

Both formats cut each row into blocks of 32 values (`QK`):
- Q8_0, 34 bytes a block: an fp16 scale d, then 32 int8 q;           value = d * q.
- Q4_1, 20 bytes a block: fp16 d, fp16 m, then 16 bytes of nibbles;  value = d * q + m, where byte j
  holds q of element j in its low nibble and of element j + 16 in its high nibble.
A third kind, "bf16w", is no GGUF block format but bfloat16 weights (the top 16 bits of float32,
rounded to nearest even) in the same blocks of 32, for the bf16 path: 64 bytes a block, no scales.
`QuantMatrix` keeps a matrix in that form, its parts apart (scales, quants) but with the file's bytes, so
the kernels read exactly what the file stores. Activations are quantised per 32-block to int8 as
llama.cpp does before its integer dot products: d = max|x| / 127, q = round(x / d), plus s = d * sum(q)
for Q4_1's minimum term. The dequantisers are checked against `gguf.quants` in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QK = 32
KINDS = ("q8_0", "q4_1", "bf16w")
INT8_KINDS = ("q8_0", "q4_1")  # kinds whose products take int8-quantised activations
BLOCK_BYTES = {"q8_0": 2 + QK, "q4_1": 4 + QK // 2, "bf16w": 2 * QK}
GGML_TYPE = {"q8_0": "Q8_0", "q4_1": "Q4_1", "bf16w": "BF16"}  # gguf.GGMLQuantizationType names


@dataclass(frozen=True)
class QuantMatrix:
    """A (rows, cols) matrix in blocks of 32 along each row: fp16 scales (and Q4_1 minimums), quants."""

    kind: str
    d: np.ndarray | None  # (rows, blocks) float16; None for bf16w
    m: np.ndarray | None  # (rows, blocks) float16, Q4_1 only
    q: np.ndarray  # (rows, blocks, 32) int8 for Q8_0; (rows, blocks, 16) uint8 nibble pairs for Q4_1;
    #                (rows, blocks, 32) uint16 bfloat16 bits for bf16w

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape[0], self.q.shape[1] * QK

    @property
    def nbytes(self) -> int:
        """Bytes as the GGUF stores them (what a pass over the matrix reads)."""
        return int(self.q.shape[0] * self.q.shape[1] * BLOCK_BYTES[self.kind])

    def rows(self, index) -> QuantMatrix:
        """The rows `index` (a slice or an index array), still quantised."""
        pick = lambda a: None if a is None else a[index]
        return QuantMatrix(self.kind, pick(self.d), pick(self.m), self.q[index])

    def dequantize(self) -> np.ndarray:
        return dequantize(self)


def stack(parts) -> QuantMatrix:
    """Rows of several matrices of one kind and width, one after another (e.g. Q, K and V)."""
    parts = list(parts)
    kind = parts[0].kind
    if any(p.kind != kind or p.shape[1] != parts[0].shape[1] for p in parts):
        raise ValueError("stack needs matrices of one kind and one width")
    join = lambda name: None if getattr(parts[0], name) is None else np.concatenate([getattr(p, name) for p in parts])
    return QuantMatrix(kind, join("d"), join("m"), np.concatenate([p.q for p in parts]))


def from_gguf_bytes(kind: str, raw: np.ndarray) -> QuantMatrix:
    """The file's (rows, blocks * block bytes) uint8 tensor data, split into its parts (no conversion)."""
    if kind not in KINDS:
        raise ValueError(f"unknown block format {kind!r}; choose one of {', '.join(KINDS)}")
    rows = raw.shape[0]
    if kind == "bf16w":
        return QuantMatrix(kind, None, None, np.ascontiguousarray(raw, dtype=np.uint8).view(np.uint16).reshape(rows, -1, QK))
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(rows, -1, BLOCK_BYTES[kind])
    if kind == "q8_0":
        d = np.ascontiguousarray(blocks[:, :, :2]).view(np.float16)[..., 0]
        return QuantMatrix(kind, d, None, np.ascontiguousarray(blocks[:, :, 2:]).view(np.int8))
    d = np.ascontiguousarray(blocks[:, :, 0:2]).view(np.float16)[..., 0]
    m = np.ascontiguousarray(blocks[:, :, 2:4]).view(np.float16)[..., 0]
    return QuantMatrix(kind, d, m, np.ascontiguousarray(blocks[:, :, 4:]))


def to_gguf_bytes(w: QuantMatrix) -> np.ndarray:
    """The inverse of `from_gguf_bytes`: (rows, blocks * block bytes) uint8 as a GGUF stores it."""
    if w.kind == "bf16w":
        return np.ascontiguousarray(w.q).view(np.uint8).reshape(w.q.shape[0], -1)
    rows, nb = w.d.shape
    scales = [w.d[..., None].view(np.uint8)] + ([] if w.m is None else [w.m[..., None].view(np.uint8)])
    blocks = np.concatenate([s.reshape(rows, nb, 2) for s in scales] + [w.q.view(np.uint8)], axis=-1)
    return blocks.reshape(rows, -1)


def nibbles(q: np.ndarray) -> np.ndarray:
    """Q4_1 nibble pairs (..., 16) as the 32 values (..., 32) of each block, 0..15."""
    return np.concatenate([q & 0x0F, q >> 4], axis=-1)


def dequantize(w: QuantMatrix) -> np.ndarray:
    """float32 (rows, cols) of a quantised matrix, computed as ggml does (fp16 scales widened first)."""
    if w.kind == "bf16w":
        return (w.q.astype(np.uint32) << 16).view(np.float32).reshape(w.shape)
    d = w.d.astype(np.float32)[..., None]
    if w.kind == "q8_0":
        values = d * w.q.astype(np.float32)
    else:
        values = d * nibbles(w.q).astype(np.float32) + w.m.astype(np.float32)[..., None]
    return values.reshape(w.shape)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C's roundf (halves away from zero), which ggml's reference quantisers use."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _blocks(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2 or w.shape[1] % QK:
        raise ValueError(f"quantising needs a 2-D matrix with a multiple of {QK} columns, got shape {w.shape}")
    return w.reshape(w.shape[0], -1, QK)


def quantize_q8_0(w: np.ndarray) -> QuantMatrix:
    """Round-to-nearest Q8_0 as ggml's reference quantiser: d = max|x| / 127, q = round(x / d)."""
    x = _blocks(w)
    d = np.abs(x).max(axis=-1) / 127
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = _round_half_away(x * inv[..., None]).astype(np.int8)
    return QuantMatrix("q8_0", d.astype(np.float16), None, q)


def quantize_q4_1(w: np.ndarray) -> QuantMatrix:
    """Q4_1 as ggml's reference quantiser: m = min, d = (max - min) / 15, q = trunc((x - m) / d + 0.5)."""
    x = _blocks(w)
    lo, hi = x.min(axis=-1), x.max(axis=-1)
    d = (hi - lo) / 15
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(15, np.trunc((x - lo[..., None]) * inv[..., None] + 0.5)).astype(np.uint8)
    return QuantMatrix("q4_1", d.astype(np.float16), lo.astype(np.float16), q[..., :16] | (q[..., 16:] << 4))


def quantize_bf16w(w: np.ndarray) -> QuantMatrix:
    """bfloat16 of each value, rounded to nearest even (finite weights only)."""
    bits = np.ascontiguousarray(_blocks(w)).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    return QuantMatrix("bf16w", None, None, rounded.astype(np.uint16))


def quantize(w: np.ndarray, kind: str) -> QuantMatrix:
    if kind == "bf16w":
        return quantize_bf16w(w)
    if kind == "q8_0":
        return quantize_q8_0(w)
    if kind == "q4_1":
        return quantize_q4_1(w)
    raise ValueError(f"unknown block format {kind!r}; choose one of {', '.join(KINDS)}")


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """int8 blocks of activation rows (T, K): q (T, K//32, 32), d (T, K//32), s = d * sum(q) (T, K//32)
    and the integer sums (T, K//32).

    Rounded to nearest, halves to even (as llama.cpp's AVX quantiser does); the reference for the Numba
    kernel that does the same per row before each product.
    """
    x = _blocks(x)
    d = np.abs(x).max(axis=-1) / np.float32(127)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    q = np.rint(x * inv[..., None]).astype(np.int8)
    sums = q.astype(np.int32).sum(axis=-1)
    return q, d.astype(np.float32), (d * sums.astype(np.float32)).astype(np.float32), sums
