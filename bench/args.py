"""Argument types shared by the verbs: each turns bad text into argparse's one-line error (exit 2)."""

from __future__ import annotations

import argparse
import math


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 ('inf' and 'nan' are not a budget)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r} (write e.g. 0.5)") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def whole_number(text: str) -> int:
    """A whole number in decimal, 0x hex or 0b binary ('010' is ten, as a user means it)."""
    cleaned = text.strip().replace("_", "")
    try:
        if cleaned.lower().startswith(("0x", "-0x", "0b", "-0b", "0o", "-0o")):
            return int(cleaned, 0)
        return int(cleaned, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r} (write e.g. 1000000 or 0xf4240)") from None
