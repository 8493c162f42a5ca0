"""The report of a run file (bench.report.model), built from the data alone: the verdict, the engineer's
summary, the short site tables, then every result, profile and metadata line as detail."""

from __future__ import annotations

from bench.console import bytes_h, si, usd
from bench.report import engineer
from bench.report import site as report_site
from bench.report import verdict as report_verdict
from bench.report.model import Report, Section, Table
from bench.results import Result, check_document

WORKLOAD_TITLES = {"sha256d": "SHA-256d mining", "gemm": "Dense GEMM", "inference": "AI inference"}
# The energy figure people quote per workload: (multiplier on joules per metric unit, label).
ENERGY_SCALE = {"H": (1e12, "J/TH"), "FLOP": (1e12, "J/TFLOP"), "tok": (1.0, "J/token")}


def describe_params(workload: str, params: dict) -> str:
    p = params or {}
    if workload == "gemm" and {"m", "n", "k"} <= p.keys():
        return f"{p['m']}×{p['n']}×{p['k']} {p.get('dtype', '')}".strip()
    if workload == "inference" and "phase" in p:
        return " ".join(str(x) for x in (p.get("model", ""), p["phase"], f"batch {p.get('batch', '?')}",
                                         p.get("dtype", "")) if x != "")
    if workload == "sha256d" and "bytes" in p:  # the hashlib reference: one buffer
        return f"{p['bytes'] / 2**20:g} MiB buffer, {p.get('threads', 1)} thread(s)"
    if workload == "sha256d" and "count" in p:
        return f"{p['count']:,} nonces" if isinstance(p["count"], int) else str(p["count"])
    return " ".join(f"{k}={v}" for k, v in p.items())


def energy_text(result: Result) -> str:
    energy = result.energy or {}
    per_unit = energy.get("joules_per_unit")
    if per_unit is None:
        return "not measured"
    per = energy.get("per") or result.unit.split("/")[0]
    scale, label = ENERGY_SCALE.get(per, (1.0, f"J/{per}"))
    return f"{si(per_unit * scale, label)} ({energy.get('source', '?')})"


def cv_text(result: Result) -> str:
    stats = result.stats or {}
    if stats.get("cv") is None:
        return ""
    text = f"{stats['cv'] * 100:.1f}% n={stats.get('n', len(result.samples))}"
    return text + " NOISY" if result.noisy else text


def verified_text(result: Result) -> str:
    """'yes' / 'NO', with the error and its tolerance where the workload reports them."""
    extra = result.extra or {}
    err, tol = extra.get("max_rel_error"), extra.get("tolerance")
    word = "yes" if result.verified else "NO"
    if isinstance(err, (int, float)) and isinstance(tol, (int, float)):
        return f"{word} (err {err:.1e} {'≤' if err <= tol else '>'} {tol:.1e})"
    return word


def results_table(workload: str, results: list[Result], title: str | None = None) -> Table:
    table = Table(
        title or WORKLOAD_TITLES.get(workload, workload),
        ["backend", "device", "size", "median", "IQR", "CV", "vs ref", "of peak", "energy", "verified", "setup s",
         "what was verified"],
        wide=("what was verified",),
    )
    for r in sorted(results, key=lambda r: not r.is_reference):
        ratio = f"{r.ratio_to_reference:.3g}x" if r.ratio_to_reference is not None else (
            "ref" if r.is_reference else "—")
        setup = [x for x in ((r.timing or {}).get("prepare_s"), r.compile_s) if isinstance(x, (int, float))]
        compile_s = f"{sum(setup):.2f}" if setup else ""
        mark = "bad" if not r.verified else ("ref" if r.is_reference else "")
        table.add([f"{r.backend}:{r.device_index}", r.device, describe_params(workload, r.params),
                   si(r.value, r.unit), si((r.stats or {}).get("iqr"), r.unit), cv_text(r), ratio,
                   engineer.of_peak([r]), energy_text(r), verified_text(r), compile_s, r.verification], mark)
    refs = sorted({f"{r.reference}" for r in results if r.reference})
    if refs:
        table.notes.append(f"vs ref: ratio to {', '.join(refs)}, measured in the same process")
    table.notes.append("median of the samples (IQR, CV: their spread; CV above 5% flagged NOISY); setup s: "
                       "prepare (compile, upload) + the first call (JIT + one run), excluded from the samples")
    if any(isinstance((r.extra or {}).get("max_rel_error"), (int, float)) for r in results):
        table.notes.append("verified (err): max relative error against a float64 NumPy reference, and its "
                           "dtype-aware tolerance; what was compared is in run.json, report.md and report.html")
    sources = sorted({(r.energy or {}).get("source") for r in results if r.energy} - {None})
    if "estimate" in sources:
        table.notes.append("energy marked (estimate) is derived from a profile's power, not measured")
    return table


def result_tables(results: list[Result]) -> list[Table]:
    """One table per workload and device; GEMM one per dtype and device (a flat table of every shape, dtype
    and device is a wall). The device goes in the title, not in a column repeated on every row."""
    tables = []
    for workload in dict.fromkeys([*WORKLOAD_TITLES, *(r.workload for r in results)]):
        mine = [r for r in results if r.workload == workload]
        by_dtype = workload == "gemm"
        groups: dict[tuple[str, str], list[Result]] = {}
        for r in mine:
            groups.setdefault((str((r.params or {}).get("dtype", "")) if by_dtype else "", r.device), []).append(r)
        for (dtype, device), part in groups.items():
            title = " ".join(x for x in (WORKLOAD_TITLES.get(workload, workload), dtype) if x) + f" on {device}"
            table = results_table(workload, part, title)
            table.wide = (*table.wide, "device")
            tables.append(table)
    return tables


def summary(doc: dict) -> list[tuple[str, str]]:
    run = doc.get("run", {})
    cpu = run.get("cpu", {}) or {}
    gpus = run.get("gpus") or []
    git = run.get("git", {}) or {}
    blas = run.get("blas") or []
    lines = [
        ("when", str(run.get("timestamp", "?"))),
        ("host", str(run.get("hostname", "?"))),
        ("cpu", f"{cpu.get('model', '?')} ({cpu.get('cores', '?')} cores, {bytes_h(cpu.get('memory_bytes'))})"),
        ("gpus", "; ".join(f"{g.get('name')} ({bytes_h(g.get('memory_bytes'))}, {g.get('driver', '')})"
                           for g in gpus) or "none found"),
        ("blas", "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
                           f"{b.get('num_threads')} threads)" for b in blas) or "unknown"),
        ("os / python", f"{run.get('os', '?')} / {run.get('python', '?')}"),
        ("load average", " → ".join(f"{x[0]:.2f}" for x in (run.get("load_average"), run.get("load_average_end")) if x)
         + " (start → end, 1 min; the end includes this run)" if run.get("load_average") else "unknown"),
        ("commit", (git.get("commit") or "unknown")[:12] + (" (with uncommitted changes)" if git.get("dirty") else "")),
    ]
    options = run.get("options") or {}
    if options:
        mode = "quick" if options.get("quick") else "full"
        budget = (options.get("budget") or {}).get("budget_s")
        lines.append(("mode", f"{mode}, up to {budget} s per case" if budget else mode))
    if run.get("wall_s") is not None:
        lines.append(("wall time", f"{run['wall_s']:.1f} s"))
    timings = [r.get("timing") or {} for r in doc.get("results", []) if isinstance(r, dict)]
    parts = {name: sum(t.get(k, 0.0) or 0.0 for t in timings for k in keys) for name, keys in
             (("setup", ("prepare_s", "first_call_s", "warmup_s")), ("timed", ("window_s",)), ("checks", ("verify_s",)))}
    if any(parts.values()):
        lines.append(("time spent", ", ".join(f"{name} {v:.1f} s" for name, v in parts.items())
                      + f" over {len(timings)} results"))
    overheads = [t.get("overhead") for t in timings]
    overheads = [o for o in overheads if isinstance(o, (int, float))]
    if overheads:
        lines.append(("harness overhead", f"at most {max(overheads):.3%} of a measured call"))
    lines.append(("status", "complete" if doc.get("complete", True) else "INCOMPLETE (interrupted)"))
    return lines


def not_run_table(doc: dict) -> Table | None:
    run = doc.get("run", {})
    table = Table("Not run here", ["workload", "backend", "why"])
    for m in run.get("missing_workloads") or []:
        table.add([m.get("workload"), "—", m.get("reason")])
    for s in run.get("skipped_backends") or []:
        table.add([s.get("workload"), s.get("backend"), s.get("reason")])
    for e in run.get("errors") or []:
        table.add([e.get("workload"), e.get("backend"), f"raised {e.get('error')}"], "bad")
    return table if table.rows else None


def warnings(doc: dict, results: list[Result]) -> list[str]:
    run = doc.get("run", {})
    out = []
    if not doc.get("complete", True):
        out.append(f"INCOMPLETE: the run was interrupted (at {run.get('interrupted_at') or 'an unknown case'}); "
                   "only the results below were finished")
    bad = [r for r in results if not r.verified]
    if bad:
        out.append("FAILED VERIFICATION (excluded from the economics): " + "; ".join(
            f"{r.workload} {r.backend}:{r.device_index} — {r.verification}" for r in bad))
    if run.get("errors"):
        out.append(f"{len(run['errors'])} case(s) raised an error; see 'Not run here'")
    for m in run.get("missing_workloads") or []:
        out.append(f"workload {m.get('workload')} missing: {m.get('reason')}")
    if run.get("economics_missing") and not doc.get("economics"):
        out.append(f"site view not computed: {run['economics_missing']}")
    cores = (run.get("cpu") or {}).get("cores") or 1
    start = (run.get("load_average") or [None])[0]  # the end's figure includes this run's own threads
    if start is not None and start >= max(1.0, cores / 2):
        out.append(f"BUSY MACHINE: load average {start:.1f} on {cores} cores when the run started; other work "
                   "competed for the CPU, so CPU figures (multi-threaded BLAS above all) are unreliable")
    blas_warning = (run.get("blas_check") or {}).get("warning")
    if blas_warning:
        out.append(f"BLAS BASELINE: {blas_warning}")
    noisy = [r for r in results if r.noisy]
    if noisy:
        out.append(f"{len(noisy)} result(s) NOISY (CV > 5%): the machine was busy or the case is too short")
    return out


def headline(doc: dict) -> list[tuple[str, str]]:
    """The two lines about the machine a reader needs before the money: what ran where, and when."""
    run = doc.get("run", {})
    cpu = run.get("cpu", {}) or {}
    gpus = run.get("gpus") or []
    options = run.get("options") or {}
    mode = "quick" if options.get("quick") else "full"
    wall = f", {run['wall_s']:.0f} s" if isinstance(run.get("wall_s"), (int, float)) else ""
    machine = f"{run.get('hostname', '?')}: {cpu.get('model', '?')} ({cpu.get('cores', '?')} cores)"
    if gpus:
        machine += "; " + ", ".join(str(g.get("name")) for g in gpus)
    status = "complete" if doc.get("complete", True) else "INCOMPLETE"
    when = f"{run.get('timestamp', '?')}, {mode} mode{wall}, {len(doc.get('results') or [])} results, {status}"
    return [("machine", machine), ("run", when)]


def build(doc: dict) -> Report:
    """The report of a run file (checked against schema 1 by the caller): the verdict, the engineer's
    summary and the short site tables first; every result, every profile and the metadata as detail."""
    results = check_document(doc)
    economics = doc.get("economics") or {}
    short = []
    if economics:
        short = [t for t in (report_site.gemm_scaling_compact(economics, results),
                             report_site.efficiency_compact(economics)) if t is not None]
    sections = [Section("For the engineer", "engineer", [engineer.summary_table(results)] if results else [],
                        warnings=warnings(doc, results))]  # the lab's, below the money
    if short:
        sections.append(Section("Measured here, scaled to the site", "scaled", short))
    not_run = not_run_table(doc)
    if not_run is not None:
        sections[0].lines.append(f"{len(not_run.rows)} workload/backend pair(s) not run here (see 'Not run here')")
    sections.append(Section("Results: every measured case", "results", result_tables(results), detail=True))
    site_tables = report_site.tables(economics)
    if site_tables:
        sections.append(Section("Site view: every use and profile", "site", site_tables, detail=True))
    plan_detail = plan_tables(doc.get("plan"))
    if plan_detail:
        sections.append(Section("Plan: yearly cash flows per strategy", "plan", plan_detail, detail=True))
    if not_run is not None:
        sections.append(Section("Not run here", "not-run", [not_run], detail=True))
    run_table = Table("Run details", ["", ""])
    for label, value in summary(doc):
        run_table.add([label, value])
    sections.append(Section("Run details", "run", [run_table], detail=True))
    return Report(f"sitebench run on {doc.get('run', {}).get('hostname', '?')}", headline(doc),
                  report_verdict.verdict(doc), sections, summary(doc))


def plan_tables(plan) -> list[Table]:
    """Per strategy, the cash flows summed by year (the monthly rows are in run.json and the CSV)."""
    if not isinstance(plan, dict):
        return []
    out = []
    for s in plan.get("strategies") or []:
        flows = [f for f in (s.get("cash_flows") or []) if isinstance(f, dict)] if isinstance(s, dict) else []
        if not flows:
            continue
        table = Table(f"{s.get('name', '?')}: cash flows by year, whole site",
                      ["year", "revenue", "power", "opex", "capex", "financing", "tax", "net", "cumulative"])
        years: dict[int, dict] = {}
        for f in flows:
            month = f.get("month")
            year = int(month) // 12 + 1 if isinstance(month, (int, float)) else 0
            acc = years.setdefault(year, {})
            for key in ("revenue_usd", "power_usd", "opex_usd", "capex_usd", "financing_usd", "tax_usd", "net_usd"):
                if isinstance(f.get(key), (int, float)):
                    acc[key] = acc.get(key, 0.0) + f[key]
        cumulative = 0.0
        for year, acc in sorted(years.items()):
            cumulative += acc.get("net_usd", 0.0)
            table.add([str(year), *(usd(acc.get(k)) for k in ("revenue_usd", "power_usd", "opex_usd", "capex_usd",
                                                               "financing_usd", "tax_usd", "net_usd")),
                       usd(cumulative)], "bad" if cumulative < 0 else "")
        out.append(table)
    return out
