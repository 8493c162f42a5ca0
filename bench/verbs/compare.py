"""`bench compare A.json B.json`: a summary line, a machine-change warning, then per-result ratios B/A
with their confidence interval and significance, and regressions."""

from __future__ import annotations

from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from bench import console
from bench.compare import (
    ALPHA,
    CONFIDENCE,
    Pair,
    changed,
    compare_docs,
    machine_changes,
    regressions,
    summarise,
)
from bench.errors import UsageError
from bench.files import check_destination, emit_json
from bench.report.engineer import params_text
from bench.results import load_run

HELP = "compare two saved runs: a summary, ratios B/A with confidence intervals, significance"
EPILOG = """examples:
  python -m bench compare reports/example/run.json reports/example-h100/run.json
  python -m bench compare base.json new.json --only-changed            only the significant changes
  python -m bench compare base.json new.json --fail-threshold 0.05     exit 1 on a >5% significant regression
  python -m bench compare base.json new.json --json - | jq .summary     the pairs and the summary as JSON"""


def add_arguments(p) -> None:
    p.add_argument("a", metavar="A.json", help="the baseline run file (written by `bench run`), or its run folder")
    p.add_argument("b", metavar="B.json", help="the run file (or folder) compared with it (ratios are B/A; above 1 is faster)")
    p.add_argument("--fail-threshold", type=float, default=None, metavar="FRACTION",
                   help="exit 1 when a significant regression is larger than this fraction of A (e.g. 0.05 = 5%%)")
    p.add_argument("--only-changed", action="store_true",
                   help="list only the significant changes (the summary line still counts every pair and the unpaired)")
    p.add_argument("--json", metavar="PATH|-", help="write the pairs and the summary as JSON to PATH ('-' = stdout)")


def ci_text(p: Pair) -> str:
    return f"{p.ci_low:.3f}–{p.ci_high:.3f}" if p.ci_low is not None and p.ci_high is not None else "—"


def table(pairs: list[Pair], name_a: str, name_b: str) -> Table:
    out = Table(title=Text(f"B = {name_b} vs A = {name_a}"), title_justify="left")
    for col in ("workload", "backend", "params", "A", "B", "B/A", f"{CONFIDENCE:.0%} CI", "p", "verdict"):
        out.add_column(col, overflow="fold")
    styles = {"faster": "green", "slower": "bold red"}
    for p in pairs:
        out.add_row(
            Text(p.workload), Text(p.backend), Text(params_text(p.workload, p.params)),
            Text(console.si(p.a, p.unit)), Text(console.si(p.b, p.unit)),
            Text(f"{p.ratio:.3f}" if p.ratio is not None else "—"), Text(ci_text(p)),
            Text(f"{p.p_value:.3g}" if p.p_value is not None else "—"),
            Text(p.verdict), style=styles.get(p.verdict),
        )
    out.caption = Text(f"p: two-sided Mann-Whitney U, significant at p < {ALPHA}; CI: bootstrap of the ratio of medians over the raw samples; "
                       "every metric is a rate, so B/A < 1 is slower", style="dim")
    return out


def main(args) -> int:
    threshold = args.fail_threshold
    if threshold is not None and not 0 <= threshold < 1:
        raise UsageError(f"--fail-threshold is a fraction in [0, 1), e.g. 0.05 for 5%; got {threshold}")
    check_destination(args.json, "file", "--json")
    doc_a, doc_b = load_run(args.a), load_run(args.b)
    pairs = compare_docs(doc_a, doc_b)
    summary = summarise(pairs)
    machine = machine_changes(doc_a, doc_b)
    bad = regressions(pairs, threshold) if threshold is not None else []
    if args.json:
        emit_json({"a": args.a, "b": args.b, "alpha": ALPHA, "fail_threshold": threshold,
                   "summary": {**asdict(summary), "unpaired": summary.unpaired}, "machine_changes": machine,
                   "pairs": [{**asdict(p), "change": p.change} for p in pairs],
                   "regressions": [p.key for p in bad]}, args.json, flag="--json")
    out = console.out(args.json == "-")
    out.print(Text(summary.line(), style="bold"))
    if machine:
        out.print(Text("! different machines: the ratios compare hardware and software, not only code", style="bold yellow"))
        for change in machine:
            out.print(Text(f"  {change}", style="yellow"))
    shown = [p for p in pairs if changed(p)] if args.only_changed else pairs
    if shown:
        out.print(table(shown, args.a, args.b))
    if args.only_changed and len(shown) < len(pairs):
        out.print(Text(f"not listed: {summary.paired - len(shown)} paired result(s) without a significant change "
                       f"and {summary.unpaired} unpaired (drop --only-changed to see them)", style="dim"))
    if bad:
        console.err().print(Text(
            f"{len(bad)} significant regression(s) beyond {threshold:.1%}: "
            + "; ".join(f"{p.key} {p.ratio:.3f}x" for p in bad)))
        return 1
    return 0
