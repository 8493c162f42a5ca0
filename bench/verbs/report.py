"""`bench report RUN.json`: re-render a saved run in the terminal (the verdict first), its files with --out."""

from __future__ import annotations

from bench import console, report
from bench.errors import UsageError
from bench.files import check_destination
from bench.report import tables_csv
from bench.results import load_run

HELP = "re-render a saved run: the verdict first, every table with --full"
EPILOG = """examples:
  python -m bench report reports/example/run.json                the verdict, the engineer's summary (~80 lines)
  python -m bench report reports/example/run.json --full         and every result, profile and metadata line
  python -m bench report run.json --out /tmp/again               report.md, report.html, plots and CSVs there
  python -m bench report run.json --csv results.csv --site-csv site.csv   for a spreadsheet"""


def add_arguments(p) -> None:
    p.add_argument("run_json", metavar="RUN.json", help="a run file written by `bench run` (run.json or --json), or the run folder holding run.json")
    p.add_argument("--full", action="store_true",
                   help="also print the detail tables: every measured case, every use and profile, the metadata")
    p.add_argument("--out", metavar="DIR",
                   help="also write report.md, report.html, the PNG plots and the CSVs to this folder")
    p.add_argument("--csv", metavar="PATH",
                   help="write every result as CSV to PATH ('-' = stdout): one row per case, rates in their unit")
    p.add_argument("--site-csv", metavar="PATH",
                   help="write the site view as CSV to PATH ('-' = stdout): USD per MW of facility power per year")


def main(args) -> int:
    """Print the saved run; with --out, write its files there too (first: a closed stdout must not cost
    them); --csv / --site-csv for spreadsheets."""
    check_destination(args.out, "folder", "--out")
    for flag, path in (("--csv", args.csv), ("--site-csv", args.site_csv)):
        if path and path != "-":
            check_destination(path, "file", flag)
    doc = load_run(args.run_json)
    if args.out:
        try:
            folder = report.write_all(doc, args.out)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write the report there ({exc.strerror or exc}); "
                             "choose another folder") from None
        console.err().print(f"report written to {folder}", markup=False)
    to_stdout = "-" in (args.csv, args.site_csv)
    if not to_stdout:
        report.render(doc, console.out(), full=args.full, source=args.run_json)
    for path, text in ((args.csv, tables_csv.results_csv(doc)), (args.site_csv, tables_csv.site_csv(doc))):
        if path:
            tables_csv.emit(text, path)
    return 0
