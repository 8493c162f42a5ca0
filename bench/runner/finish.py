"""After measuring: the site view of the verified results only, where the report goes, and saving it so that
nothing finished is lost.

Destinations are checked before anything is measured (`check_destinations`). The default folder is
`reports/<UTC time>-<host>-<pid>`, claimed with an exclusive mkdir so two runs started in the same second never
share it; an `--out` folder that already holds a run.json is refused unless `--force`. If writing still fails
at the end (the disk filled up, the folder vanished), the run is saved in the default reports folder, else in
the system temp folder, and the caller is told where (and exits 2).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import pricing, report
from bench.errors import UsageError
from bench.files import check_destination, dumps, write_atomic
from bench.report.write import RUN_FILE
from bench.results import Result, run_document
from bench.runner.options import Options

REPORTS = Path("reports")


def economics_of(results: list[Result], options: Options) -> tuple[dict | None, str | None]:
    """The site view from the verified results only, or (None, why not)."""

    verified = [r for r in results if r.verified]
    return pricing.economics(verified, profiles=options.profiles, site=options.site, market=options.market), None


def check_destinations(options: Options, *, force: bool = False) -> None:
    """Exit 2 before any work when --json or --out cannot be written, or --out already holds a run."""
    check_destination(options.json, "file", "--json")
    if options.csv == "-":
        raise UsageError("--csv: stdout carries the report; give --csv a file path")
    check_destination(options.csv, "file", "--csv")
    if options.out:
        check_destination(options.out, "folder", "--out")
        if (Path(options.out) / RUN_FILE).exists() and not force:
            raise UsageError(f"--out {options.out} already holds a run ({RUN_FILE}); choose another folder, "
                             "or add --force to replace it")
    else:
        check_destination(REPORTS, "folder", "the default --out")  # a read-only working folder: say so now


def claim_folder(parent: Path, name: str) -> Path:
    """`parent/name`, made with an exclusive mkdir (`-2`, `-3`, ... appended while taken): one per run."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise OSError(f"no free folder name under {parent} for {name}")


def out_dir(options: Options, run: dict) -> Path:
    """--out as given, or a new folder of its own under reports/ (its name is stored as run['folder'])."""
    if options.out:
        return Path(options.out)
    folder = claim_folder(REPORTS, f"{run['folder']}-{os.getpid()}")
    run["folder"] = folder.name
    return folder


def priced(meta: dict, results: list[Result], options: Options) -> dict:
    """The run document with the site view of its verified results; a pricing error never loses them."""
    try:
        economics, why_not = economics_of(results, options)
    except UsageError as exc:
        economics, why_not = None, str(exc)
    if why_not:
        meta["economics_missing"] = why_not
    doc = run_document(meta, results, complete=True, economics=economics)
    try:
        doc["plan"] = pricing.run_plan([r for r in results if r.verified], site=options.site, market=options.market)
    except UsageError as exc:
        meta["plan_missing"] = str(exc)
    return doc


def check_site_inputs(options: Options) -> dict | None:
    """Unknown profile/site/market ids fail before anything is measured (exit 2)."""

    return pricing.check_inputs(profiles=options.profiles, site=options.site, market=options.market)


@dataclass
class Saved:
    folder: Path  # where the report files are
    trouble: str | None = None  # one line: what could not be written and where the run went instead


def _fallbacks() -> list[Path]:
    return [REPORTS, Path(tempfile.gettempdir()) / f"sitebench-{os.getuid()}"]


def save(doc: dict, folder: Path, *, partial: bool, json_path: str | None = None) -> Saved:
    """Write the run (all files, or run.json + report.md when `partial`) to `folder`, then to --json PATH.

    An OSError never loses the run: it is written to a fresh folder under reports/, else the temp folder,
    and `Saved.trouble` says what failed and where the run is."""
    write = report.write_partial if partial else report.write_all
    saved = Saved(folder)
    try:
        write(doc, folder)
    except OSError as first:
        saved = _save_elsewhere(doc, write, folder, first)
    if json_path and json_path != "-":
        try:
            write_atomic(json_path, dumps(doc))
        except OSError as exc:
            why = f"--json {json_path}: cannot write it ({exc.strerror or exc}); the run is in {saved.folder / RUN_FILE}"
            saved.trouble = f"{saved.trouble}; {why}" if saved.trouble else why
    return saved


def _save_elsewhere(doc: dict, write, folder: Path, first: OSError) -> Saved:
    name = folder.name or "run"
    for parent in _fallbacks():
        try:
            other = claim_folder(parent, name if parent != folder.parent else f"{name}-saved")
            write(doc, other)
        except OSError:
            continue
        return Saved(other, f"could not write {folder} ({first.strerror or first}); the run was saved in {other} "
                            "instead")
    raise UsageError(f"could not write {folder} ({first.strerror or first}) nor any fallback folder "
                     f"({', '.join(map(str, _fallbacks()))}); the results are lost — free some disk space")
