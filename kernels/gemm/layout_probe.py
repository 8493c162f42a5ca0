"""Where a GEMM kernel reads its operands from: decodes a wrong result into the places it read.

A layout mistake in a tensor-core kernel (a swizzle, a descriptor's byte offset, a TMA box) makes C wrong
in a pattern that a check on random inputs reports only as a large error. Multiplying by an identity
instead makes C a copy of the other operand, and coding that operand's elements with their own row (or
column) number, small integers that fp16 and bf16 hold exactly, makes every element of C name the place it
was read from. Four products decode both operands:

    I @ B_rows, I @ B_cols  ->  for each element (k, n) of the copy of B, the B(k', n') it came from
    A_rows @ I, A_cols @ I  ->  the same for the copy of A

The identity goes through the same loads as the coded operand it multiplies, so a mistake shows in both
products, in a pattern that says which index went wrong: B's columns misread move the columns of both
copies, A's rows the rows of both, and A's K index the rows of I @ B's copy and the columns of A @ I's.
A place that comes out 0 was never read (a copy that did not land, or zero padding), one that is not a
whole number in range mixed several places. The identity is not square, so C also has a part that must
stay zero (rows of I @ B past K, columns of A @ I past K): anything there is stray. The shape covers two
tile rows and two tile columns of 128 x 256 tiles and three K slices of 64, so a mistake in any of them
shows. Column codes of B repeat every CODE_LIMIT columns; a column is decoded within its own block.
`probe` takes any `gemm(a, b) -> c` on float32 host arrays, so the decoding is tested on the CPU.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAPE = (256, 512, 192)  # M, N, K
CODE_LIMIT = 256  # codes 1..256 are whole numbers that bf16 (8 significant bits) holds exactly
NOT_READ, MIXED = -1, -2  # decoded places that name no element: a zero, or no whole code in range


def _coded(rows: int, cols: int, by_column: bool) -> np.ndarray:
    """Each element's row (or column) number mod CODE_LIMIT, plus one (0 is kept for "not read")."""
    index = np.arange(cols if by_column else rows) % CODE_LIMIT + 1
    grid = np.broadcast_to(index if by_column else index[:, None], (rows, cols))
    return np.ascontiguousarray(grid, dtype=np.float32)


def _identity(rows: int, cols: int) -> np.ndarray:
    return np.eye(rows, cols, dtype=np.float32)


def _decoded(values: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
    """Coded values back to indices; NOT_READ for 0, MIXED for anything that is not a code.
    `blocks`: the CODE_LIMIT-wide block of each place, added back to indices that repeat."""
    whole = np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values <= CODE_LIMIT)
    index = np.where(whole, values, MIXED + 1).astype(np.int64) - 1
    if blocks is not None:
        index = np.where(index >= 0, index + blocks * CODE_LIMIT, index)
    return index


@dataclass(frozen=True)
class OperandMap:
    """For each element of the copy `name` ("I@B" or "A@I"), the row and column of the coded operand it
    came from."""

    name: str
    rows: np.ndarray
    cols: np.ndarray

    def wrong(self) -> np.ndarray:
        r, c = np.indices(self.rows.shape)
        return (self.rows != r) | (self.cols != c)

    def summary(self, examples: int = 3) -> str:
        wrong = self.wrong()
        total = wrong.size
        if not wrong.any():
            return f"{self.name} read right at all {total} places"
        r, c = np.nonzero(wrong)
        src_r, src_c = self.rows[r, c], self.cols[r, c]
        unread = int(np.count_nonzero((src_r == NOT_READ) | (src_c == NOT_READ)))
        mixed = int(np.count_nonzero((src_r == MIXED) | (src_c == MIXED)))
        moved = (src_r >= 0) & (src_c >= 0)
        parts = [f"{self.name} wrong at {wrong.sum()} of {total} places"]
        if unread:
            parts.append(f"{unread} never read (zero)")
        if mixed:
            parts.append(f"{mixed} a mix of places")
        if moved.any():
            shifts = Counter(zip((src_r - r)[moved].tolist(), (src_c - c)[moved].tolist()))
            common = ", ".join(f"{n} read (row{dr:+d}, col{dc:+d})" for (dr, dc), n in shifts.most_common(examples))
            parts.append(f"moved: {common}")
        first = np.flatnonzero(wrong.ravel())[0]
        i, j = divmod(int(first), wrong.shape[1])
        parts.append(f"first {self.name}({i}, {j}) <- ({self.rows[i, j]}, {self.cols[i, j]})")
        return "; ".join(parts)


@dataclass(frozen=True)
class Probe:
    """Both copies' maps and the count of stray non-zeros in the parts of C that must stay zero."""

    shape: tuple[int, int, int]
    a: OperandMap
    b: OperandMap
    stray: int

    @property
    def exact(self) -> bool:
        return self.stray == 0 and not self.a.wrong().any() and not self.b.wrong().any()

    def verdict(self) -> str:
        """The counts alone, short enough for a reason in a report."""
        if self.exact:
            return "layout probe exact (the operands are read from the right places)"
        counts = []
        for copy in (self.a, self.b):
            wrong = copy.wrong()
            counts.append(f"{copy.name} wrong at {int(wrong.sum())} of {wrong.size}")
        return "layout probe: " + ", ".join(counts) + (f", {self.stray} stray" if self.stray else "")

    def summary(self) -> str:
        m, n, k = self.shape
        head = f"layout probe {m}x{n}x{k}: "
        if self.exact:
            return head + "both copies (I@B, A@I) exact, nothing stray"
        text = head + " | ".join((self.a.summary(), self.b.summary()))
        return text + (f" | {self.stray} stray non-zeros where C must be zero" if self.stray else "")

    def save(self, path: Path) -> None:
        """The maps as a .npz (a_rows, a_cols, b_rows, b_cols: the place read for each element)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, a_rows=self.a.rows, a_cols=self.a.cols, b_rows=self.b.rows, b_cols=self.b.cols,
                            shape=np.array(self.shape), stray=np.array(self.stray))


def probe(gemm: Callable[[np.ndarray, np.ndarray], np.ndarray], shape: tuple[int, int, int] = SHAPE) -> Probe:
    """Run the four coded products through `gemm` (float32 host arrays in and out) and decode them."""
    m, n, k = shape
    ident_a, ident_b = _identity(m, k), _identity(k, n)  # I @ B copies B's K rows; A @ I copies A's K columns
    b_rows = np.asarray(gemm(ident_a, _coded(k, n, by_column=False)), dtype=np.float64)
    b_cols = np.asarray(gemm(ident_a, _coded(k, n, by_column=True)), dtype=np.float64)
    a_rows = np.asarray(gemm(_coded(m, k, by_column=False), ident_b), dtype=np.float64)
    a_cols = np.asarray(gemm(_coded(m, k, by_column=True), ident_b), dtype=np.float64)
    column_blocks = np.broadcast_to(np.arange(n) // CODE_LIMIT, (k, n))
    b_map = OperandMap("I@B", _decoded(b_rows[:k]), _decoded(b_cols[:k], column_blocks))
    a_map = OperandMap("A@I", _decoded(a_rows[:, :k]), _decoded(a_cols[:, :k]))
    stray = sum(int(np.count_nonzero(c)) for c in (b_rows[k:], b_cols[k:], a_rows[:, k:], a_cols[:, k:]))
    return Probe(shape, a_map, b_map, stray)
