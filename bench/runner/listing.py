"""`bench run --list`: the cases a run would measure, its time budget and a rough wall-time estimate,
without measuring anything (planning only: backend discovery and the workloads' case lists).

The estimate is cases x (budget per case + SETUP_S): SETUP_S is the mean prepare, first call and
verification time per case of the committed 2-core example run (68.8 s setup + 35.9 s checks over
110 cases), so it is a guide for a small CPU machine, not a promise.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.runner.options import Options
from bench.runner.planner import plan, select, workload_module
from bench.workloads import Case

SETUP_S = 0.95  # per case: prepare + first call + verification, measured in reports/example (2 cores)


def estimate_s(cases: list[Case], budget_s: float) -> float:
    return len(cases) * (budget_s + SETUP_S)


def show(options: Options, console: Console, *, load=workload_module, choose=select) -> int:
    """Print the cases `options` would run, grouped by workload and backend, then the budget and estimate."""
    the_plan = plan(options, load, choose)
    budget = options.budget
    groups = Counter((c.workload, f"{c.backend}:{c.device.index}", c.device.name) for c in the_plan.cases)
    table = Table(title=Text("What `bench run` would measure here", style="bold"), title_justify="left")
    for col in ("workload", "backend", "device", "cases", "e.g."):
        table.add_column(col)
    for (workload, backend, device), n in groups.items():
        example = next(c for c in the_plan.cases if (c.workload, f"{c.backend}:{c.device.index}") == (workload, backend))
        table.add_row(Text(workload), Text(backend), Text(device), Text(str(n)),
                      Text(",".join(f"{k}={v}" for k, v in example.params.items())))
    console.print(table)
    for item in [*the_plan.missing, *the_plan.skipped]:
        console.print(Text(f"not run: {item.get('workload')} {item.get('backend', '')}: {item.get('reason')}",
                           style="dim"))
    seconds = estimate_s(the_plan.cases, budget.budget_s)
    console.print(Text(f"{len(the_plan.cases)} cases; budget {budget.budget_s:g} s of measuring per case (at least "
                       f"{budget.min_repeats} repeats, stop at CV {budget.target_cv:.0%}); estimated wall time about "
                       f"{seconds / 60:.1f} min ({seconds:.0f} s: budget + ~{SETUP_S:g} s setup and checks per case, "
                       "from a 2-core machine; compile caches and faster machines make it shorter)"))
    console.print(Text("nothing was measured; drop --list to run", style="dim"))
    return 0
