"""CSV for spreadsheets: every result of a run (one row per case) and the site view (one row per use).

Plain numbers in fixed units (rates in the result's unit, USD per MW of facility power per year), never the
rounded display text, so a spreadsheet can compute with them.
"""

from __future__ import annotations

import csv
import io
import sys

from bench.files import write_atomic
from bench.results import check_document

RESULT_COLUMNS = ["workload", "backend", "device_index", "device", "params", "metric", "value", "unit", "median",
                  "iqr", "cv", "n", "verified", "is_reference", "ratio_to_reference", "fraction_of_peak",
                  "joules_per_unit", "energy_source", "verification"]
SITE_COLUMNS = ["use", "profile", "name", "pue", "revenue_usd_per_mw_year", "power_cost_usd_per_mw_year",
                "margin_usd_per_mw_year", "capex_usd_per_mw", "payback_years", "npv_usd_per_mw", "basis"]


def _text(rows: list[list], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def results_csv(doc: dict) -> str:
    rows = []
    for r in check_document(doc):
        stats, energy = r.stats or {}, r.energy or {}
        rows.append([r.workload, r.backend, r.device_index, r.device,
                     ";".join(f"{k}={v}" for k, v in (r.params or {}).items()), r.metric, r.value, r.unit,
                     stats.get("median"), stats.get("iqr"), stats.get("cv"), stats.get("n", len(r.samples)),
                     r.verified, r.is_reference, r.ratio_to_reference, r.fraction_of_peak,
                     energy.get("joules_per_unit"), energy.get("source"), r.verification])
    return _text(rows, RESULT_COLUMNS)


def site_csv(doc: dict) -> str:
    uses = (doc.get("economics") or {}).get("uses") or []
    return _text([[u.get(c) for c in SITE_COLUMNS] for u in uses if isinstance(u, dict)], SITE_COLUMNS)


def emit(text: str, path: str) -> None:
    """`path` '-' is stdout (and nothing else goes there), else a file written atomically."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(path, text)
