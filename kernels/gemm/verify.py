"""GEMM dtype names and the check of a result against NumPy in float64.

The error of C = A @ B is measured element by element against the float64 product and scaled by
(|A| @ |B|), the quantity the classic rounding-error bound of a dot product is proportional to:

    |C - AB|_ij <= (u_in * 2 + u_out + K * u_acc) * (|A| |B|)_ij      (u = unit roundoff = eps / 2)

so `max_rel_error` is meaningful even where C_ij is near zero by cancellation, and the tolerance grows
with K and the dtype's epsilon (input rounding to fp16/bf16/tf32, output rounding, K accumulations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16")

# Machine epsilon of the storage (inputs/outputs) and of the accumulator for each dtype name.
EPS = {"fp64": 2.0**-52, "fp32": 2.0**-23, "tf32": 2.0**-10, "fp16": 2.0**-10, "bf16": 2.0**-7}
EPS_ACC = {"fp64": 2.0**-52, "fp32": 2.0**-23, "tf32": 2.0**-23, "fp16": 2.0**-23, "bf16": 2.0**-23}

# NumPy dtype that holds operands of each dtype on the host (NumPy has no bf16 or tf32: float32 values
# are rounded on the device).
HOST = {"fp64": np.float64, "fp32": np.float32, "tf32": np.float32, "fp16": np.float16, "bf16": np.float32}

SAFETY = 2.0  # headroom over the first-order bound
MAX_ROWS = 512  # rows of C compared at most; larger results are checked on a spread of rows
CHECK_MACS = 2**32  # and at most about this many float64 multiply-adds per product (two are computed)


def check_dtype(dtype: str, available=DTYPES, where: str = "") -> str:
    """The dtype name if valid and available; ValueError with one line naming the valid ones."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown GEMM dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if dtype not in available:
        place = f"{where} " if where else ""
        raise ValueError(f"{place}has no {dtype}; it has {', '.join(available)}")
    return dtype


def host_array(x, dtype: str, name: str = "operand") -> np.ndarray:
    """`x` as a C-contiguous 2-D host array of `dtype`'s storage type (a copy only when needed)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{name} has dtype {x.dtype}; pass a real floating-point array ({np.dtype(HOST[dtype])})")
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix; got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=HOST[dtype])


def tolerance(dtype: str, k: int) -> float:
    """Allowed max relative error (see the module docstring) for a product of inner dimension k."""
    check_dtype(dtype)
    return SAFETY * (1.5 * EPS[dtype] + 0.5 * k * EPS_ACC[dtype])


@dataclass
class Check:
    ok: bool
    max_rel_error: float
    tolerance: float
    what: str  # one line: what was compared with what


def sample_rows(m: int, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Every row when m <= max_rows, else a fixed random spread that always includes the first and last."""
    if m <= max_rows:
        return np.arange(m)
    rng = np.random.default_rng(0)
    picked = rng.choice(np.arange(1, m - 1), size=max_rows - 2, replace=False)
    return np.sort(np.concatenate(([0, m - 1], picked)))


def max_rel_error(c, a, b, rows=None) -> float:
    """max |C - A@B| / (|A| @ |B|) over the given rows of C (all by default), in float64."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    c64 = np.asarray(c, dtype=np.float64)
    if rows is not None:
        a64, c64 = a64[rows], c64[rows]
    exact = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    err = np.abs(c64 - exact)
    if not np.all(np.isfinite(c64)):
        return float("inf")
    # An all-zero row of A or column of B gives scale 0 there: any error is then infinitely wrong.
    rel = np.divide(err, scale, out=np.where(err > 0, np.inf, 0.0), where=scale > 0)
    return float(rel.max()) if rel.size else 0.0


def check(c, a, b, dtype: str, *, max_rows: int | None = None) -> Check:
    """Compare C with NumPy's float64 product of the host operands A and B.

    `max_rows` defaults to MAX_ROWS, fewer for very large K x N (at least 16) so that a check of a
    Llama-70B projection stays seconds, not minutes.
    """
    a, b = np.asarray(a), np.asarray(b)
    m, k = a.shape
    n = b.shape[1]
    if max_rows is None:
        max_rows = min(MAX_ROWS, max(16, CHECK_MACS // (n * k)))
    if np.shape(c) != (m, n):
        return Check(False, float("inf"), tolerance(dtype, k), f"C has shape {np.shape(c)}, expected {(m, n)}")
    rows = sample_rows(m, max_rows)
    err = max_rel_error(c, a, b, rows if len(rows) < m else None)
    tol = tolerance(dtype, k)
    which = "all" if len(rows) == m else f"{len(rows)} of {m}"
    what = f"{which} rows vs NumPy float64: max rel error {err:.2e} (tolerance {tol:.2e}, {dtype}, K={k})"
    return Check(bool(err <= tol), err, tol, what)
