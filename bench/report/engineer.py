"""The engineer's summary: one row per workload x backend x device, instead of every measured size.

Per row: the best figure and where it was reached, the geometric mean of the ratios to the machine's
reference (hashlib, NumPy/BLAS, cuBLAS) over the results that have one, the best fraction of the device's
peak (GEMM; inference prefill: of peak FLOP/s, decode: of the memory-bandwidth bound), how many results
were NOISY, and where the energy figures came from.
"""

from __future__ import annotations

import math

from bench.console import si
from bench.report.model import Table
from bench.results import Result

WORKLOAD_SHORT = {"sha256d": "SHA-256d", "gemm": "GEMM", "inference": "inference"}


def short_params(r: Result) -> str:
    """Where a figure was reached, short enough for one cell: '2048³ fp32', 'decode b8 fp32', '16.8M nonces'."""
    return params_text(r.workload, r.params)


def params_text(workload: str, params: dict | None) -> str:
    """A workload's params in a few characters (see short_params)."""
    p = params or {}
    if workload == "gemm" and {"m", "n", "k"} <= p.keys():
        size = f"{p['m']}³" if p["m"] == p["n"] == p["k"] else f"{p['m']}x{p['n']}x{p['k']}"
        return f"{size} {p.get('dtype', '')}".strip()
    if workload == "inference" and "phase" in p:
        return f"{p['phase']} b{p.get('batch', '?')} {p.get('dtype', '')}".strip()
    if workload == "sha256d" and "bytes" in p:
        return f"{p['bytes'] / 2**20:g} MiB buffer"
    if workload == "sha256d" and isinstance(p.get("count"), int):
        return f"{si(p['count'])} nonces"
    return ",".join(f"{k}={v}" for k, v in p.items())[:24]


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def of_peak(results: list[Result]) -> str:
    """The best fraction of a bound these results reported, named: '85% peak', '41% bandwidth'."""
    best: tuple[float, str] | None = None
    for r in results:
        extra = r.extra or {}
        for key, label in (("fraction_of_peak", "peak"), ("fraction_of_peak_bandwidth", "bandwidth"),
                           ("fraction_of_peak_flops", "peak")):
            v = extra.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v) and (best is None or v > best[0]):
                best = (float(v), label)
            if isinstance(v, (int, float)):
                break  # the first figure a result has is the one that bounds it
    return "—" if best is None else f"{best[0]:.0%} {best[1]}"


def summary_table(results: list[Result]) -> Table:
    table = Table("Engineer's summary: per workload and backend (every size is under 'Results' below)",
                  ["workload", "backend", "device", "best", "at", "vs ref\ngeomean", "of bound", "NOISY",
                   "energy"])
    groups: dict[tuple, list[Result]] = {}
    for r in results:
        groups.setdefault((r.workload, r.backend, r.device_index), []).append(r)
    order = list(WORKLOAD_SHORT)
    for (workload, backend, index), rs in sorted(groups.items(), key=lambda kv: (
            order.index(kv[0][0]) if kv[0][0] in order else len(order), not kv[1][0].is_reference, kv[0][1])):
        verified = [r for r in rs if r.verified] or rs
        best = max(verified, key=lambda r: r.value)
        ratio = geomean([r.ratio_to_reference for r in verified if r.ratio_to_reference is not None])
        ref_text = "ref" if all(r.is_reference for r in rs) else (f"{ratio:.3g}x" if ratio is not None else "—")
        sources = sorted({(r.energy or {}).get("source") for r in rs} - {None})
        noisy = sum(1 for r in rs if r.noisy)
        failed = sum(1 for r in rs if not r.verified)
        table.add([WORKLOAD_SHORT.get(workload, workload), f"{backend}:{index}", best.device[:22],
                   si(best.value, best.unit), short_params(best), ref_text, of_peak(verified),
                   f"{noisy}/{len(rs)}", ", ".join(sources) or "none"],
                  "bad" if failed else "ref" if best.is_reference else "")
    table.notes.append("best: the highest verified median; vs ref: geometric mean of the ratios to the reference "
                       "measured in the same process; of bound: best fraction of the device's peak FLOP/s (GEMM, "
                       "prefill) or of its memory-bandwidth bound (decode); NOISY: CV above 5%")
    return table
