"""`bench compare A.json B.json`: pair the results of two runs, ratio B/A, and whether it is real.

Results pair by workload, backend, device index and params. Every metric is a rate (higher is better),
so B/A < 1 is a slowdown. Significance comes from the raw samples of both runs: a two-sided
Mann-Whitney U test (scipy.stats.mannwhitneyu), significant at p < ALPHA; each ratio also gets a 95%
bootstrap confidence interval (the ratio of medians, resampling each run's raw samples). A significant
slowdown larger than `--fail-threshold` (e.g. 0.05 = 5%) makes the command exit 1.

The summary counts the pairs (paired, faster, slower, unchanged, unpaired) and gives the geometric mean of
B/A over the paired results; `machine_changes` names what differs between the two machines (host, CPU
model, GPUs, BLAS kernel, package versions), because a ratio across machines is not a code change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.results import Result, check_document

ALPHA = 0.05
BOOTSTRAP_ROUNDS = 2000
CONFIDENCE = 0.95


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
    ci_low: float | None = None  # 95% bootstrap interval of the ratio of medians B/A
    ci_high: float | None = None

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


def bootstrap_ci(a: list[float], b: list[float], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0,
                 confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile bootstrap interval of median(b) / median(a), resampling each run's samples with
    replacement (seeded: the same files give the same interval); None with fewer than 2 samples a side."""
    a_arr, b_arr = np.asarray(a, float), np.asarray(b, float)
    if a_arr.size < 2 or b_arr.size < 2:
        return None
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a_arr, (rounds, a_arr.size)), axis=1)
    mb = np.median(rng.choice(b_arr, (rounds, b_arr.size)), axis=1)
    ok = ma > 0
    if not ok.any():
        return None
    ratios = mb[ok] / ma[ok]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


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
    ci = bootstrap_ci(ra.samples, rb.samples) if ra.verified and rb.verified else None
    return Pair(r.key, r.workload, r.backend, r.params, r.unit, ra.value, rb.value, ratio, p, verdict,
                *(ci or (None, None)))


def compare_docs(doc_a: dict, doc_b: dict) -> list[Pair]:
    a = {r.key: r for r in check_document(doc_a)}
    b = {r.key: r for r in check_document(doc_b)}
    keys = list(dict.fromkeys([*a, *b]))
    return [pair(a.get(k), b.get(k)) for k in keys]


def regressions(pairs: list[Pair], threshold: float) -> list[Pair]:
    """Significant slowdowns larger than `threshold` (a fraction: 0.05 = 5% slower)."""
    return [p for p in pairs if p.verdict == "slower" and p.ratio is not None and 1 - p.ratio > threshold]


UNCHANGED = "no significant change"


def changed(p: Pair) -> bool:
    """What --only-changed keeps: the significant changes (unpaired results are counted, not listed)."""
    return p.verdict in ("faster", "slower")


@dataclass
class Summary:
    paired: int
    faster: int
    slower: int
    unchanged: int  # no significant change
    undecided: int  # too few samples, or unverified
    only_a: int
    only_b: int
    geomean: float | None  # of B/A over the paired results

    @property
    def unpaired(self) -> int:
        return self.only_a + self.only_b

    def line(self) -> str:
        gm = f"geomean B/A {self.geomean:.3f}" if self.geomean is not None else "no geomean (nothing paired)"
        return (f"{self.paired} paired: {self.faster} faster, {self.slower} slower, {self.unchanged} unchanged, "
                f"{self.undecided} undecided; {self.unpaired} unpaired ({self.only_a} only in A, {self.only_b} "
                f"only in B); {gm}")


def summarise(pairs: list[Pair]) -> Summary:
    paired = [p for p in pairs if p.verdict not in ("only in A", "only in B")]
    ratios = [p.ratio for p in paired if p.ratio is not None and p.ratio > 0 and math.isfinite(p.ratio)]
    count = lambda v: sum(1 for p in pairs if p.verdict == v)
    return Summary(
        paired=len(paired), faster=count("faster"), slower=count("slower"), unchanged=count(UNCHANGED),
        undecided=len(paired) - count("faster") - count("slower") - count(UNCHANGED),
        only_a=count("only in A"), only_b=count("only in B"),
        geomean=math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else None,
    )


def _machine(doc: dict) -> dict[str, str]:
    run = doc.get("run") or {}
    cpu = run.get("cpu") or {}
    blas = run.get("blas") or []
    return {
        "host": str(run.get("hostname", "?")),
        "CPU model": str(cpu.get("model", "?")),
        "GPU": ", ".join(str(g.get("name")) for g in run.get("gpus") or [] if isinstance(g, dict)) or "none",
        "BLAS kernel": "; ".join(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}"
                                 for b in blas if isinstance(b, dict)) or "unknown",
    }


def machine_changes(doc_a: dict, doc_b: dict) -> list[str]:
    """'host: a -> b', ... for every machine property and package version that differs between the runs."""
    a, b = _machine(doc_a), _machine(doc_b)
    out = [f"{k}: {a[k]} -> {b[k]}" for k in a if a[k] != b[k]]
    pa = (doc_a.get("run") or {}).get("packages") or {}
    pb = (doc_b.get("run") or {}).get("packages") or {}
    moved = [f"{name} {pa.get(name, 'absent')} -> {pb.get(name, 'absent')}" for name in sorted({*pa, *pb})
             if pa.get(name) != pb.get(name)]
    if moved:
        out.append("packages: " + ", ".join(moved))
    return out
