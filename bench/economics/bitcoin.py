"""Bitcoin over time, month by month: block heights and halvings, a difficulty path, a BTC price path.

Heights advance 144 blocks a day from the snapshot's height (the protocol's 10-minute target); the subsidy
halves at every block 210,000 x k. Difficulty grows by a fixed fraction a month. The BTC price is flat,
drifts by a fixed fraction a year, or follows a user's CSV of monthly prices (held at its last value).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from bench.economics.snapshot import (
    BLOCKS_PER_DAY,
    DAYS_PER_MONTH,
    HALVING_INTERVAL,
    hashprice_btc_per_ph_day,
    subsidy_btc,
)

HOURS_PER_MONTH = DAYS_PER_MONTH * 24


def heights(block_height: int, months) -> np.ndarray:
    """The block height in the middle of each month."""
    m = np.asarray(months, dtype=float)
    return block_height + ((m - 0.5) * DAYS_PER_MONTH * BLOCKS_PER_DAY).astype(np.int64)


def next_halving_height(block_height: int) -> int:
    return (block_height // HALVING_INTERVAL + 1) * HALVING_INTERVAL


def halving_month(block_height: int) -> int:
    """The first month (1-based) whose mid-month height is past the next halving (its first reduced month)."""
    blocks = next_halving_height(block_height) - block_height
    return int(math.floor(blocks / (DAYS_PER_MONTH * BLOCKS_PER_DAY) + 0.5)) + 1


def difficulty_path(difficulty: float, growth_monthly: float, months) -> np.ndarray:
    """Difficulty in each month: month 1 is today's."""
    return difficulty * (1.0 + growth_monthly) ** (np.asarray(months, dtype=float) - 1)


def btc_price_path(price: float, months, *, drift_per_year: float = 0.0,
                   monthly: np.ndarray | None = None) -> np.ndarray:
    """BTC price per month: `monthly` (a user's series, held at its last value) or `price` x (1+drift)^(t)."""
    m = np.asarray(months, dtype=float)
    if monthly is not None and len(monthly):
        series = np.asarray(monthly, dtype=float)
        idx = np.minimum(m.astype(int) - 1, series.size - 1)
        return series[idx]
    return price * (1.0 + drift_per_year) ** ((m - 1) / 12.0)


def read_price_csv(path: str | Path) -> np.ndarray:
    """Monthly BTC prices from a CSV: one price per row (the last column), month 1 first; a header row is
    skipped. ValueError names the row when a price is not a finite number > 0."""
    prices = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip():
                continue
            cell = row[-1].strip()
            try:
                value = float(cell)
            except ValueError:
                if i == 1:
                    continue  # a header
                raise ValueError(f"row {i}: {cell!r} is not a price in USD") from None
            if not (math.isfinite(value) and 100 <= value <= 1e8):
                raise ValueError(f"row {i}: a BTC price must be 100 to 1e8 USD (got {value:g})")
            prices.append(value)
    if not prices:
        raise ValueError("no prices found (one USD price per row, month 1 first)")
    return np.asarray(prices)


def btc_per_ph_month(months, *, block_height: int, difficulty: float, growth_monthly: float,
                     fees_btc_per_block: float) -> np.ndarray:
    """BTC a PH/s earns in each month (before uptime and pool fee), with halvings and difficulty growth."""
    d = difficulty_path(difficulty, growth_monthly, months)
    return hashprice_btc_per_ph_day(d, subsidy_btc(heights(block_height, months)), fees_btc_per_block) * DAYS_PER_MONTH
