"""`bench compare A.json B.json`: per-result ratios B/A with their significance, and regressions."""

from __future__ import annotations

from dataclasses import asdict

from rich.table import Table
from rich.text import Text

from bench import console
from bench.compare import ALPHA, Pair, compare_docs, regressions
from bench.errors import UsageError
from bench.files import check_destination, emit_json
from bench.results import load_run

HELP = "compare two saved runs: ratios and significance"
EPILOG = """examples:
  python -m bench compare reports/example/run.json reports/example-h100/run.json
  python -m bench compare base.json new.json --fail-threshold 0.05     exit 1 on a >5% significant regression"""


def add_arguments(p) -> None:
    p.add_argument("a", metavar="A.json", help="the baseline run file")
    p.add_argument("b", metavar="B.json", help="the run file compared with it (ratios are B/A)")
    p.add_argument("--fail-threshold", type=float, default=None, metavar="FRACTION",
                   help="exit 1 when a significant regression is larger than this fraction (e.g. 0.05 = 5%%)")
    p.add_argument("--json", metavar="PATH|-", help="write the pairs as JSON to PATH ('-' = stdout)")


def table(pairs: list[Pair], name_a: str, name_b: str) -> Table:
    out = Table(title=Text(f"B = {name_b} vs A = {name_a}"), title_justify="left")
    for col in ("workload", "backend", "params", "A", "B", "B/A", "p (Mann-Whitney U)", "verdict"):
        out.add_column(col, overflow="fold")
    styles = {"faster": "green", "slower": "bold red"}
    for p in pairs:
        out.add_row(
            Text(p.workload), Text(p.backend), Text(" ".join(f"{k}={v}" for k, v in (p.params or {}).items())),
            Text(console.si(p.a, p.unit)), Text(console.si(p.b, p.unit)),
            Text(f"{p.ratio:.3f}" if p.ratio is not None else "—"),
            Text(f"{p.p_value:.3g}" if p.p_value is not None else "—"),
            Text(p.verdict), style=styles.get(p.verdict),
        )
    out.caption = Text(f"significant at p < {ALPHA}; every metric is a rate, so B/A < 1 is slower", style="dim")
    return out


def main(args) -> int:
    threshold = args.fail_threshold
    if threshold is not None and not 0 <= threshold < 1:
        raise UsageError(f"--fail-threshold is a fraction in [0, 1), e.g. 0.05 for 5%; got {threshold}")
    check_destination(args.json, "file", "--json")
    pairs = compare_docs(load_run(args.a), load_run(args.b))
    bad = regressions(pairs, threshold) if threshold is not None else []
    if args.json:
        emit_json({"a": args.a, "b": args.b, "alpha": ALPHA, "fail_threshold": threshold,
                   "pairs": [{**asdict(p), "change": p.change} for p in pairs],
                   "regressions": [p.key for p in bad]}, args.json, flag="--json")
    out = console.out(args.json == "-")
    out.print(table(pairs, args.a, args.b))
    if bad:
        console.err().print(Text(
            f"{len(bad)} significant regression(s) beyond {threshold:.1%}: "
            + "; ".join(f"{p.key} {p.ratio:.3f}x" for p in bad)))
        return 1
    return 0
