"""`bench compare A.json B.json`: pair the results of two runs, ratio B/A, and whether it is real.

Results pair by workload, backend, device index and params. Every metric is a rate (higher is better),
so B/A < 1 is a slowdown. Significance comes from the raw samples of both runs: a two-sided
Mann-Whitney U test (scipy.stats.mannwhitneyu), significant at p < ALPHA. A significant slowdown larger
than `--fail-threshold` (e.g. 0.05 = 5%) makes the command exit 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.results import Result, check_document

ALPHA = 0.05


@dataclass
class Pair:
    key: str
    workload: str
    backend: str
    params: dict
    unit: str
    a: float | None
    b: float | None
    ratio: float | None  # b / a
    p_value: float | None
    verdict: str  # "faster" | "slower" | "no significant change" | "too few samples" | "only in A" | ...

    @property
    def change(self) -> float | None:
        return None if self.ratio is None else self.ratio - 1.0


def can_be_significant(na: int, nb: int) -> bool:
    """Whether samples this small can reach p < ALPHA at all: the smallest two-sided U-test p-value is
    2 / C(na + nb, na) (3 vs 3 samples: 0.1, never significant)."""
    return na >= 1 and nb >= 1 and 2 / math.comb(na + nb, na) < ALPHA


def significance(a: list[float], b: list[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value of the two samples, or None where they are too few to decide."""
    if not can_be_significant(len(a), len(b)):
        return None
    from scipy.stats import mannwhitneyu

    if len(set(a) | set(b)) == 1:  # all equal: no evidence of any difference
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def pair(ra: Result | None, rb: Result | None) -> Pair:
    r = ra or rb
    if ra is None or rb is None:
        return Pair(r.key, r.workload, r.backend, r.params, r.unit, ra and ra.value, rb and rb.value, None, None,
                    "only in B" if ra is None else "only in A")
    ratio = rb.value / ra.value if ra.value else None
    if not (ra.verified and rb.verified):
        verdict, p = "unverified (not compared)", None
    else:
        p = significance(ra.samples, rb.samples)
        if p is None:
            verdict = f"too few samples to tell ({len(ra.samples)} vs {len(rb.samples)})"
        elif p >= ALPHA or ratio is None:
            verdict = "no significant change"
        else:
            verdict = "faster" if ratio > 1 else "slower"
    return Pair(r.key, r.workload, r.backend, r.params, r.unit, ra.value, rb.value, ratio, p, verdict)


def compare_docs(doc_a: dict, doc_b: dict) -> list[Pair]:
    a = {r.key: r for r in check_document(doc_a)}
    b = {r.key: r for r in check_document(doc_b)}
    keys = list(dict.fromkeys([*a, *b]))
    return [pair(a.get(k), b.get(k)) for k in keys]


def regressions(pairs: list[Pair], threshold: float) -> list[Pair]:
    """Significant slowdowns larger than `threshold` (a fraction: 0.05 = 5% slower)."""
    return [p for p in pairs if p.verdict == "slower" and p.ratio is not None and 1 - p.ratio > threshold]
