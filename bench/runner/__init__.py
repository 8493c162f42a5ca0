"""`bench run`: plan the cases, measure and verify each one, price the verified results, write the report.

plan:    for each workload that has landed (`bench/workloads/<name>.py`), the backends and devices that
         work here (or the ones asked for; a GPU-less machine falls back to the CPU backends) -> Cases,
         the machine's own references first so every result can be shown as a ratio to them.
measure: prepare (compile, upload) -> `bench.timing.measure` with the energy meter bracketing exactly the
         timed window -> verify the last output -> `Result`. A case that raises is recorded as an error.
finish:  unverified results never reach the economics; the run file, Markdown, HTML and plots are written
         atomically, before anything goes to stdout. Ctrl-C, SIGTERM and SIGHUP save what is done, marked
         incomplete, and exit 130 / 143 / 129 (later signals cannot interrupt the save); a failed verification
         exits 1 after everything is saved; a path that cannot be written is refused before measuring.
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
from bench.errors import UsageError, VerificationError
from bench.files import emit_json
from bench.report import tables_csv
from bench.results import Result, run_document
from bench.runner.finish import (
    check_destinations,
    check_site_inputs,
    out_dir,
    priced,
    save,
)
from bench.runner.measure import Outcome, execute, params_text
from bench.runner.options import DEFAULT, QUICK, Budget, Options
from bench.runner.planner import plan, select, workload_module
from bench.runner.resources import check_cases, check_options
from bench.signals import Stopped, Stops

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


def run(options: Options, *, load: Callable[[str], object] = workload_module, choose=select,
        force: bool = False) -> int:
    """The whole `bench run` in this process; returns the exit code or raises (UsageError, VerificationError,
    Stopped). Under MPI each rank runs `bench.mpi.run` instead (the `run` verb decides which).

    Order of the end: the report folder first, then --json PATH, then stdout (--json - or the tables), so a
    closed pipe or a full stdout never costs a saved file; SIGINT/SIGTERM/SIGHUP save what is done."""
    quiet = options.json == "-"
    msg = console.err()
    out = console.out(quiet)
    with Stops() as stops:  # from the first moment: a stop before measuring exits 128+n with nothing to save
        check_destinations(options, force=force)
        site_check = check_site_inputs(options)
        check_options(options)  # sizes that cannot fit: exit 2 before the plan allocates anything
        the_plan = plan(options, load, choose)
        check_cases(the_plan.cases)
        stamp = metadata.utc_now()
        meta = metadata.collect(stamp)
        meta["folder"] = metadata.folder_name(stamp, meta["hostname"])
        meta["options"] = options.to_dict()
        meta["missing_workloads"] = the_plan.missing
        meta["skipped_backends"] = the_plan.skipped
        if meta["blas_check"]["warning"]:
            msg.print(f"[yellow]warning:[/] {escape(meta['blas_check']['warning'])}")
        if site_check:
            meta["site_inputs"] = site_check
        started = time.perf_counter()
        progress = _progress(msg)
        outcome = Outcome()
        folder = out_dir(options, meta)
        try:
            with progress:
                execute(the_plan.cases, options.budget, outcome=outcome, progress=progress,
                        on_result=lambda r: progress.console.print(_line(r), soft_wrap=True))
            meta["wall_s"] = time.perf_counter() - started
            meta["errors"] = outcome.errors
            meta["load_average_end"] = metadata.load_average()
            meta["thread_settings"] = metadata.thread_settings()  # the threading layer is known once a kernel ran
            doc = priced(meta, outcome.results, options)
        except KeyboardInterrupt as exc:
            stops.hold()  # (Stopped already did) no later signal can cut the save short
            return _save_interrupted(exc, meta, outcome, folder, options, started, msg)
        stops.hold()  # the run is complete: a signal from here on is counted, and answered once it is saved
        saved = save(doc, folder, partial=False, json_path=options.json)
        if options.csv:
            tables_csv.emit(tables_csv.results_csv(doc), options.csv)
        pipe_closed = _to_stdout(doc, out, quiet, saved.folder)
        msg.print(f"report written to {escape(str(saved.folder))} ({meta['wall_s']:.1f} s)")
        if saved.trouble:
            raise UsageError(saved.trouble)
        late = stops.first_pending()
        if late is not None:
            msg.print(f"{late.name} arrived after the run was complete; it is saved", markup=False)
            return late.exit_code
    failed = [r for r in outcome.results if not r.verified]
    if failed or outcome.errors:
        what = [f"{r.workload} {r.backend}:{r.device_index} ({r.verification})" for r in failed]
        what += [f"{e['workload']} {e['backend']} raised {e['error']}" for e in outcome.errors]
        raise VerificationError("; ".join(what) + f" — results saved in {saved.folder}")
    if pipe_closed:
        console.stdout_gone()
    return 0


def _to_stdout(doc: dict, out, quiet: bool, folder) -> bool:
    """The run file (--json -) or the terminal report on stdout; True if the reader closed the pipe."""
    try:
        if quiet:
            emit_json(doc, "-")
        report.render(doc, out)
    except BrokenPipeError:
        console.stdout_gone()
        return True
    except OSError as exc:  # a full disk behind `> file`: the run itself is saved
        console.stdout_gone()
        raise UsageError(f"cannot write to stdout ({exc.strerror or exc}); the run is saved in {folder}") from None
    return False


def _save_interrupted(exc: KeyboardInterrupt, meta: dict, outcome: Outcome, folder, options: Options,
                      started: float, msg) -> int:
    """Save what is done, marked incomplete; raises Stopped with the signal's exit code (130/143/129)."""
    stop = exc if isinstance(exc, Stopped) else Stopped()
    meta["wall_s"] = time.perf_counter() - started
    meta["errors"] = outcome.errors
    meta["interrupted_at"] = outcome.interrupted_at or "after the last case, while writing the report"
    meta["stopped_by"] = stop.name
    doc = run_document(meta, outcome.results, complete=False)
    saved = save(doc, folder, partial=True, json_path=options.json)
    if options.json == "-":
        try:
            emit_json(doc, "-")
        except BrokenPipeError:
            console.stdout_gone()
    msg.print(f"{stop.name}: {len(outcome.results)} result(s) saved, marked incomplete, in "
              f"{escape(str(saved.folder))}")
    if saved.trouble:
        msg.print(f"warning: {escape(saved.trouble)}")
    raise stop from None
