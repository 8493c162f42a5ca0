"""`bench report RUN.json`: re-render a saved run in the terminal, and its files with --out."""

from __future__ import annotations

from bench import console, report
from bench.errors import UsageError
from bench.files import check_destination
from bench.results import load_run

HELP = "re-render a saved run"
EPILOG = """examples:
  python -m bench report reports/example/run.json
  python -m bench report run.json --out /tmp/again     report.md, report.html and plots written there"""


def add_arguments(p) -> None:
    p.add_argument("run_json", metavar="RUN.json", help="a run file written by `bench run` (run.json or --json)")
    p.add_argument("--out", metavar="DIR", help="also write report.md, report.html and the plots to this folder")


def main(args) -> int:
    """Print the saved run; with --out, write its files there too."""
    check_destination(args.out, "folder", "--out")
    doc = load_run(args.run_json)
    if args.out:  # the files first: a closed stdout must not cost them
        try:
            folder = report.write_all(doc, args.out)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write the report there ({exc.strerror or exc}); "
                             "choose another folder") from None
        console.err().print(f"report written to {folder}", markup=False)
    report.render(doc, console.out())
    return 0
