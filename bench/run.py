"""`bench run`: plan the cases, measure and verify each one, price the verified results, write the report.

plan:    for each workload that has landed (`bench/workloads/<name>.py`), the backends and devices that
         work here (or the ones asked for; a GPU-less machine falls back to the CPU backends) -> Cases,
         the machine's own references first so every result can be shown as a ratio to them.
measure: prepare (compile, upload) -> `bench.timing.measure` with the energy meter bracketing exactly the
         timed window -> verify the last output -> `Result`. A case that raises is recorded as an error.
finish:  unverified results never reach the economics; the run file, Markdown, HTML and plots are written
         atomically. Ctrl-C saves what is done, marked incomplete, and exits 130; a failed verification
         exits 1 after everything is saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench import backends, console, metadata
from bench.errors import UsageError, VerificationError
from bench.files import emit_json
from bench.results import Energy, Result, energy_dict, from_timing, run_document
from bench.timing import HostTimer, measure
from bench.run_plan import plan, select, workload_module
from bench.workloads import Case


@dataclass(frozen=True)
class Budget:
    """How long each case is measured: `measure()` keyword arguments."""

    budget_s: float
    min_sample_s: float
    min_repeats: int
    target_cv: float

    def kwargs(self) -> dict:
        return {"budget_s": self.budget_s, "min_sample_s": self.min_sample_s,
                "min_repeats": self.min_repeats, "target_cv": self.target_cv}


QUICK = Budget(budget_s=0.2, min_sample_s=0.02, min_repeats=3, target_cv=0.03)
DEFAULT = Budget(budget_s=1.0, min_sample_s=0.05, min_repeats=5, target_cv=0.02)


@dataclass
class Options:
    workloads: list[str] = field(default_factory=lambda: list(backends.WORKLOADS))
    backends: list[str] | None = None  # NAME or NAME:INDEX specs; None = every one that works here
    quick: bool = False
    profiles: list[str] | None = None
    site: str | None = None
    market: str | None = None
    json: str | None = None
    out: str | None = None
    budget_s: float | None = None  # per case; overrides the quick/default budget
    mpi: bool = False  # run as one rank of an MPI job (bench/mpi.py); also detected from mpirun/srun
    mpi_timeout_s: float | None = None  # MPI: deadline of each phase
    shapes: list[str] | None = None  # gemm: 'MxNxK' texts (--shape)
    dtypes: list[str] | None = None  # gemm: dtype names (--dtype)
    model: str | None = None  # inference: model spec (--model)
    prompt: int | None = None  # inference: prompt tokens (--prompt)
    batches: list[int] | None = None  # inference: batch sizes (--batch)

    def case_options(self, workload: str) -> dict:
        """The keyword arguments of `cases()` that the command line set for this workload."""
        wanted = {
            "gemm": {"shapes_only": self.shapes, "dtypes_only": self.dtypes},
            "inference": {"model": self.model, "prompt": self.prompt,
                          "batches": tuple(self.batches) if self.batches else None},
        }.get(workload, {})
        return {k: v for k, v in wanted.items() if v is not None}

    def check_case_options(self) -> None:
        """A workload option given without its workload is a mistake worth saying (exit 2)."""
        for flag, value, workload in (("--shape", self.shapes, "gemm"), ("--dtype", self.dtypes, "gemm"),
                                      ("--model", self.model, "inference"), ("--prompt", self.prompt, "inference"),
                                      ("--batch", self.batches, "inference")):
            if value is not None and workload not in self.workloads:
                raise UsageError(f"{flag} applies to the {workload} workload, which this run does not include; "
                                 f"add --workload {workload}")

    @property
    def budget(self) -> Budget:
        base = QUICK if self.quick else DEFAULT
        if self.budget_s is None:
            return base
        return Budget(self.budget_s, min(base.min_sample_s, self.budget_s / 5), base.min_repeats, base.target_cv)

    def to_dict(self) -> dict:
        return {"workloads": self.workloads, "backends": self.backends, "quick": self.quick,
                "profiles": self.profiles, "site": self.site, "market": self.market,
                "budget": self.budget.kwargs()}


def options_from_args(args) -> Options:
    workloads = args.workload or ["all"]
    chosen = list(backends.WORKLOADS) if "all" in workloads else list(dict.fromkeys(workloads))
    if args.budget is not None and not args.budget > 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {args.budget}")
    options = Options(chosen, args.backend, args.quick, args.profile, args.site, args.market, args.json, args.out,
                      args.budget, getattr(args, "mpi", False), getattr(args, "mpi_timeout", None),
                      getattr(args, "shape", None), getattr(args, "dtype", None), getattr(args, "model", None),
                      getattr(args, "prompt", None), getattr(args, "batch", None))
    options.check_case_options()
    return options


# --- measure ------------------------------------------------------------------------------------


def meter_for(case: Case):
    """The energy meter for the case's device (bench.power), or None where there is none.

    References run under their own names ('hashlib', 'cublas'); a GPU is metered through NVML by its PCI
    address whichever code runs on it. A device without any source (an unknown GPU without NVML) is left unmetered
    rather than stopping the run.
    """
    from bench import power

    try:
        return power.meter_for(case.backend, case.device)
    except UsageError:
        return None


def energy_of(reading, case: Case, work: float) -> dict | None:
    """A meter's reading (bench.power) as the run file's energy dict, with joules per metric unit."""
    if reading is None:
        return None
    if isinstance(reading, dict):
        reading = Energy(**{k: reading[k] for k in ("joules", "watts", "source", "seconds", "detail") if k in reading})
    elif not isinstance(reading, Energy):
        reading = Energy(reading.joules, reading.watts, reading.source,
                         getattr(reading, "seconds", 0.0), getattr(reading, "detail", ""))
    return energy_dict(reading, work, case.unit)


def measure_case(case: Case, budget: Budget, ratio_to: dict[str, Result]) -> Result:
    """Prepare, time, verify: one Result, verified or not (never an unchecked number)."""
    t0 = time.perf_counter()
    step = case.prepare()
    prepare_s = time.perf_counter() - t0
    timer = case.timer() if case.timer else HostTimer(case.sync)
    timing = measure(step, timer=timer, meter=meter_for(case), **budget.kwargs())
    t0 = time.perf_counter()
    ok, what = case.verify(timing.output)
    seconds_per_call = timing.stats.median
    extra = dict(case.extra(seconds_per_call)) if case.extra else {}
    checks_s = time.perf_counter() - t0
    result = from_timing(
        timing,
        work_per_call=case.work_per_call,
        workload=case.workload,
        backend=case.backend,
        device=case.device.name,
        params=case.params,
        metric=case.metric,
        unit=case.unit,
        verified=bool(ok),
        verification=str(what),
        energy=energy_of(timing.energy, case, timing.window_calls * case.work_per_call),
        device_index=case.device.index,
        is_reference=case.is_reference,
        extra=extra,
    )
    result.timing.update(prepare_s=prepare_s, verify_s=checks_s)
    link_reference(result, ratio_to.get(case.reference) if case.reference else None)
    return result


def link_reference(result: Result, ref: Result | None) -> None:
    """Show `result` as a ratio to its reference, when that reference ran and was verified."""
    if ref is not None and ref.verified and ref.value:
        result.reference = f"{ref.backend} ({ref.device})"
        result.ratio_to_reference = result.value / ref.value


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    complete: bool = True
    interrupted_at: str | None = None


def execute(cases: list[Case], budget: Budget, *, outcome: Outcome | None = None,
            progress: Progress | None = None, on_result: Callable[[Result], None] | None = None) -> Outcome:
    """Measure every case in order into `outcome`. Ctrl-C leaves it as far as it got and re-raises."""
    outcome = outcome if outcome is not None else Outcome()
    by_key: dict[str, Result] = {}
    task = progress.add_task("", total=len(cases), current="") if progress is not None else None
    try:
        for i, case in enumerate(cases):
            outcome.interrupted_at = case.key
            if progress is not None:
                progress.update(task, current=escape(f"{case.workload} · {case.backend}:{case.device.index} · "
                                                     f"{case.label or _params(case.params)}"))
            try:
                result = measure_case(case, budget, by_key)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken backend must not lose the others' results
                outcome.errors.append({"case": case.key, "workload": case.workload, "backend": case.backend,
                                       "device": case.device.name, "error": f"{type(exc).__name__}: {exc}"})
            else:
                by_key[case.key] = result
                outcome.results.append(result)
                outcome.interrupted_at = cases[i + 1].key if i + 1 < len(cases) else None
                if on_result is not None:
                    on_result(result)
            if progress is not None:
                progress.advance(task)
    except KeyboardInterrupt:
        outcome.complete = False
        raise
    outcome.interrupted_at = None
    for case in cases:  # references that ran after the cases they serve
        if case.key in by_key and case.reference and by_key[case.key].ratio_to_reference is None:
            link_reference(by_key[case.key], by_key.get(case.reference))
    return outcome


def _params(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _progress(stream) -> Progress:
    return Progress(
        TextColumn("[bold]run[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}"),
        console=stream,
        transient=True,
    )


def _line(result: Result) -> str:
    mark = "verified" if result.verified else "[red]NOT VERIFIED[/]"
    ratio = f" · {result.ratio_to_reference:.2f}x ref" if result.ratio_to_reference else ""
    noisy = " · [yellow]noisy[/]" if result.noisy else ""
    return (f"{escape(result.workload)} {escape(result.backend)}:{result.device_index} "
            f"{escape(_params(result.params))}: {console.si(result.value, escape(result.unit))}{ratio}{noisy} · {mark}")


# --- finish -------------------------------------------------------------------------------------


def economics_of(results: list[Result], options: Options) -> tuple[dict | None, str | None]:
    """The site view from the verified results only, or (None, why not)."""
    from bench import site_view

    verified = [r for r in results if r.verified]
    return site_view.economics(verified, profiles=options.profiles, site=options.site, market=options.market), None


def out_dir(options: Options, run: dict) -> Path:
    if options.out:
        return Path(options.out)
    return Path("reports") / run["folder"]


def run(options: Options, *, load: Callable[[str], object] = workload_module, choose=select) -> int:
    """The whole `bench run`; returns the exit code or raises (UsageError, VerificationError, Ctrl-C)."""
    from bench import mpi, report

    if mpi.wanted(options):  # one rank of an MPI job: bench/mpi.py runs it, rank 0 reports
        return mpi.run(options, load=load, choose=choose)

    quiet = options.json == "-"
    msg = console.err()
    out = console.out(quiet)
    if options.budget_s is not None and not options.budget_s > 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {options.budget_s}")
    site_check = check_site_inputs(options)
    the_plan = plan(options, load, choose)
    stamp = metadata.utc_now()
    meta = metadata.collect(stamp)
    meta["folder"] = metadata.folder_name(stamp, meta["hostname"])
    meta["options"] = options.to_dict()
    meta["missing_workloads"] = the_plan.missing
    meta["skipped_backends"] = the_plan.skipped
    folder = out_dir(options, meta)
    if meta["blas_check"]["warning"]:
        msg.print(f"[yellow]warning:[/] {escape(meta['blas_check']['warning'])}")
    if site_check:
        meta["site_inputs"] = site_check

    started = time.perf_counter()
    progress = _progress(msg)
    outcome = Outcome()
    try:
        with progress:
            execute(the_plan.cases, options.budget, outcome=outcome, progress=progress,
                    on_result=lambda r: progress.console.print(_line(r), soft_wrap=True))
        meta["wall_s"] = time.perf_counter() - started
        meta["errors"] = outcome.errors
        meta["load_average_end"] = metadata.load_average()
        doc = priced(meta, outcome.results, options)
        if options.json:
            emit_json(doc, options.json)
        report.render(doc, out)
        written = report.write_all(doc, folder)
    except KeyboardInterrupt:
        meta["wall_s"] = time.perf_counter() - started
        meta["errors"] = outcome.errors
        meta["interrupted_at"] = outcome.interrupted_at or "after the last case, while writing the report"
        doc = run_document(meta, outcome.results, complete=False)
        written = report.write_partial(doc, folder, json_path=None if quiet else options.json)
        msg.print(f"interrupted: {len(outcome.results)} result(s) saved, marked incomplete, in {escape(str(written))}")
        raise
    msg.print(f"report written to {escape(str(written))} ({meta['wall_s']:.1f} s)")
    failed = [r for r in outcome.results if not r.verified]
    if failed or outcome.errors:
        what = [f"{r.workload} {r.backend}:{r.device_index} ({r.verification})" for r in failed]
        what += [f"{e['workload']} {e['backend']} raised {e['error']}" for e in outcome.errors]
        raise VerificationError("; ".join(what) + f" — results saved in {written}")
    return 0


def priced(meta: dict, results: list[Result], options: Options) -> dict:
    """The run document with the site view of its verified results; a pricing error never loses them."""
    try:
        economics, why_not = economics_of(results, options)
    except UsageError as exc:
        economics, why_not = None, str(exc)
    if why_not:
        meta["economics_missing"] = why_not
    return run_document(meta, results, complete=True, economics=economics)


def check_site_inputs(options: Options) -> dict | None:
    """Unknown profile/site/market ids fail before anything is measured (exit 2)."""
    from bench import site_view

    return site_view.check_inputs(profiles=options.profiles, site=options.site, market=options.market)
