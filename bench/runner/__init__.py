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
from typing import Callable

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench import console, metadata, report
from bench.errors import VerificationError
from bench.files import emit_json
from bench.results import Result, run_document
from bench.runner.finish import check_site_inputs, out_dir, priced
from bench.runner.measure import Outcome, execute, params_text
from bench.runner.options import DEFAULT, QUICK, Budget, Options
from bench.runner.planner import plan, select, workload_module

__all__ = ["Budget", "DEFAULT", "Options", "QUICK", "run"]


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
            f"{escape(params_text(result.params))}: {console.si(result.value, escape(result.unit))}{ratio}{noisy} · {mark}")


def run(options: Options, *, load: Callable[[str], object] = workload_module, choose=select) -> int:
    """The whole `bench run` in this process; returns the exit code or raises (UsageError, VerificationError,
    Ctrl-C). Under MPI each rank runs `bench.mpi.run` instead (the `run` verb decides which)."""
    quiet = options.json == "-"
    msg = console.err()
    out = console.out(quiet)
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
