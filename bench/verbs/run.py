"""`bench run`: the main job: every workload on every backend here, verified, priced, reported."""

from __future__ import annotations

from bench import backends, console, mpi, runner
from bench.args import positive_seconds, whole_number
from bench.runner import Options
from bench.runner.finish import check_destinations
from bench.runner.listing import show as show_listing

HELP = "the main job: every workload on every backend here, then the report"
EPILOG = """examples:
  python -m bench run                       everything that runs here, default site and market
  python -m bench run --list                the cases it would run, the budget and a wall-time estimate
  python -m bench run --quick               small sizes, short budgets (about a minute on 2 cores)
  python -m bench run --workload gemm --backend numpy --backend numba-cpu --shape 2048x2048x2048
  python -m bench run --json - > run.json   the run file on stdout, the report on stderr
  mpirun -n 2 python -m bench run --workload sha256d   one rank per GPU or socket"""


def add_arguments(p) -> None:
    p.add_argument("--workload", action="append", choices=[*backends.WORKLOADS, "all"],
                   help="workload to run (repeatable; default all)")
    p.add_argument("--backend", action="append", metavar="NAME[:INDEX]",
                   help=f"{', '.join(backends.BACKENDS)} (repeatable; default: all available)")
    p.add_argument("--quick", action="store_true", help="small sizes and short budgets: 0.2 s per case (CI, smoke tests)")
    p.add_argument("--profile", action="append", metavar="ID", help="hardware profile to scale to (repeatable)")
    p.add_argument("--site", metavar="ID", help="site profile id (default: the site marked default)")
    p.add_argument("--market", metavar="ID", help="market snapshot id (default: the newest)")
    p.add_argument("--json", metavar="PATH|-", help="write the run JSON to PATH ('-' = stdout, nothing else there)")
    p.add_argument("--csv", metavar="PATH", help="also write the results as CSV to PATH (a file; the report folder "
                                                 "always holds results.csv)")
    p.add_argument("--out", metavar="DIR",
                   help="report folder (default: a new reports/<UTC time>-<host>-<pid>/ per run); a folder that "
                        "already holds a run.json is refused (exit 2) unless --force")
    p.add_argument("--force", action="store_true", help="replace the run already saved in --out DIR")
    p.add_argument("--budget", type=positive_seconds, metavar="SECONDS",
                   help="measuring time per case in seconds (default 1, --quick 0.2)")
    p.add_argument("--shape", action="append", metavar="MxNxK", help="gemm: only these shapes, M, N, K in elements (repeatable)")
    p.add_argument("--dtype", action="append", metavar="NAME",
                   help="gemm: only these dtypes: fp64, fp32, tf32, fp16, bf16 (repeatable)")
    p.add_argument("--model", metavar="SPEC",
                   help="inference: smollm2-135m or llama3-8b-4l, optionally NAME:FIELD=N,... "
                        "(e.g. smollm2-135m:n_layers=4)")
    p.add_argument("--prompt", type=whole_number, metavar="N", help="inference: prompt length in tokens")
    p.add_argument("--batch", type=whole_number, action="append", metavar="N",
                   help="inference: batch size in sequences (repeatable)")
    p.add_argument("--list", action="store_true",
                   help="list the cases this run would measure, the budget (s per case) and an estimate of "
                        "the wall time (minutes), then stop without measuring")
    p.add_argument("--mpi", action="store_true", help="run as one rank of an MPI job (automatic under mpirun/srun)")
    p.add_argument("--mpi-timeout", type=positive_seconds, metavar="SECONDS",
                   help="MPI: deadline of each phase in seconds (default 600)")


def options_from_args(args) -> Options:
    """The run's options from the command line (checked once, by Options itself)."""
    workloads = args.workload or ["all"]
    chosen = list(backends.WORKLOADS) if "all" in workloads else list(dict.fromkeys(workloads))
    return Options(
        workloads=chosen, backends=args.backend, quick=args.quick, profiles=args.profile, site=args.site,
        market=args.market, json=args.json, out=args.out, csv=args.csv, budget_s=args.budget, mpi=args.mpi,
        mpi_timeout_s=args.mpi_timeout, shapes=args.shape, dtypes=args.dtype, model=args.model,
        prompt=args.prompt, batches=args.batch,
    )


def main(args) -> int:
    options = options_from_args(args)
    if args.list:
        return show_listing(options, console.out())
    if mpi.wanted(options):  # one rank of an MPI job: bench.mpi runs it, rank 0 reports
        check_destinations(options, force=args.force)
        return mpi.run(options)
    return runner.run(options, force=args.force)
