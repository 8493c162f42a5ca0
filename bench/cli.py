"""`python -m bench VERB`: one parser, one `cmd_<verb>(args)` per verb, errors turned into exit codes.

Exit codes (DESIGN.md): 0 success; 1 a result failed verification; 2 bad input or a backend/profile that
does not exist or cannot run here (one line on stderr, never a traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from bench.errors import UsageError, VerificationError

PROG = "python -m bench"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line and exit 2 (not the whole usage block)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    return value


# --- verbs -------------------------------------------------------------------------------------


def cmd_mine(args) -> int:
    from bench.mine import mine

    return mine(args)


def cmd_backends(args) -> int:
    from bench.backends_view import show_backends

    return show_backends(args)


def cmd_run(args) -> int:
    from bench.run import options_from_args, run

    return run(options_from_args(args))


def cmd_profiles(args) -> int:
    from bench.profiles_view import show_profiles

    return show_profiles(args)


def cmd_economics(args) -> int:
    from bench.economics_view import show_economics

    return show_economics(args)


def cmd_plan(args) -> int:
    from bench.verbs import plan

    return plan.main(args)


def cmd_report(args) -> int:
    from bench.report import show

    return show(args)


def cmd_compare(args) -> int:
    from bench.compare import compare

    return compare(args)


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="SHA-256d mining vs GEMM / AI inference: speed, energy, $ per MW")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True

    p = verbs.add_parser("run", help="the main job: every workload on every backend here, then the report")
    p.add_argument("--workload", action="append", choices=["sha256d", "gemm", "inference", "all"],
                   help="workload to run (repeatable; default all)")
    p.add_argument("--backend", action="append", metavar="NAME[:INDEX]",
                   help="numpy, numba-cpu, numba-cuda, cupy, opencl (repeatable; default: all available)")
    p.add_argument("--quick", action="store_true", help="small sizes and short budgets (CI, smoke tests)")
    p.add_argument("--profile", action="append", metavar="ID", help="hardware profile to scale to (repeatable)")
    p.add_argument("--site", metavar="ID", help="site profile (default: the default site)")
    p.add_argument("--market", metavar="ID", help="market snapshot (default: the newest)")
    p.add_argument("--json", metavar="PATH|-", help="write the run JSON here ('-' = stdout, nothing else there)")
    p.add_argument("--out", metavar="DIR", help="report folder (default reports/<timestamp>-<host>/)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="measuring time per case (default 1, --quick 0.2); tests use tiny ones")
    p.add_argument("--shape", action="append", metavar="MxNxK", help="gemm: only these shapes (repeatable)")
    p.add_argument("--dtype", action="append", metavar="NAME",
                   help="gemm: only these dtypes: fp64, fp32, tf32, fp16, bf16 (repeatable)")
    p.add_argument("--model", metavar="SPEC",
                   help="inference: smollm2-135m or llama3-8b-4l, optionally NAME:FIELD=N,... (e.g. smollm2-135m:n_layers=4)")
    p.add_argument("--prompt", type=_int, metavar="N", help="inference: prompt length in tokens")
    p.add_argument("--batch", type=_int, action="append", metavar="N", help="inference: batch size (repeatable)")
    p.add_argument("--mpi", action="store_true", help="run as one rank of an MPI job (automatic under mpirun/srun)")
    p.add_argument("--mpi-timeout", type=float, metavar="SECONDS", help="MPI: deadline of each phase (default 600)")
    p.set_defaults(func=cmd_run)

    p = verbs.add_parser("mine", help="scan a nonce window of a real 80-byte block header")
    p.add_argument("--header", required=True, metavar="HEX160", help="the 80-byte header as 160 hex digits")
    p.add_argument("--start", type=_int, default=0, metavar="N", help="first nonce (default 0)")
    p.add_argument("--count", type=_int, default=None, metavar="N",
                   help="nonces to scan (default: all from --start to 2**32-1)")
    p.add_argument("--target", metavar="HEX64", help="256-bit target, 64 hex digits (default: from the header's bits)")
    p.add_argument("--backend", default="numba-cpu", metavar="NAME[:INDEX]", help="default numba-cpu")
    p.add_argument("--json", metavar="PATH|-", help="write the result as JSON ('-' = stdout)")
    p.set_defaults(func=cmd_mine)

    p = verbs.add_parser("backends", help="list backends, their devices, and why a backend cannot run")
    p.add_argument("--json", metavar="PATH|-", help="write the list as JSON ('-' = stdout)")
    p.set_defaults(func=cmd_backends)

    p = verbs.add_parser("profiles", help="list the hardware, site and market profiles")
    p.add_argument("--json", metavar="PATH|-", help="write the list as JSON ('-' = stdout)")
    p.set_defaults(func=cmd_profiles)

    p = verbs.add_parser("economics", help="revenue, costs and margin per MW: mining vs GPUaaS vs hosting vs tokens")
    p.add_argument("--site", metavar="ID", help="site profile (default: the default site)")
    p.add_argument("--market", metavar="ID", help="market snapshot (default: the newest)")
    p.add_argument("--pue", type=float, metavar="X",
                   help="PUE of every use, facility / IT power (1-3; default: the site's, per use)")
    p.add_argument("--pue-mining", type=float, metavar="X", help="PUE of the mining halls only (1-3)")
    p.add_argument("--pue-ai", type=float, metavar="X",
                   help="PUE of the AI uses only: GPUaaS, hosting, token sales (1-3)")
    p.add_argument("--power-price", type=float, metavar="USD_PER_MWH",
                   help="power price, $/MWh on facility MWh (1-1000, or 0)")
    p.add_argument("--btc-price", type=float, metavar="USD", help="BTC price, USD (1,000-10,000,000)")
    p.add_argument("--difficulty", type=float, metavar="D",
                   help="network difficulty, the full number (148.26 T = 148.26e12; 1e12-1e17)")
    p.add_argument("--fees-btc-per-block", type=float, metavar="BTC", help="transaction fees per block, BTC (0-5)")
    p.add_argument("--asic", metavar="ID", help="ASIC profile mined with (default: the site's)")
    p.add_argument("--gpu", metavar="ID", help="GPU profile for GPUaaS and token sales (default: the site's)")
    p.add_argument("--gpu-hour-price", type=float, metavar="USD",
                   help="GPU-hour price of --gpu, USD per GPU-hour (0.05-50)")
    p.add_argument("--hosting-price", type=float, metavar="USD_PER_KW_MONTH",
                   help="lease rate, USD per kW-month of IT load (5-1000)")
    p.add_argument("--json", metavar="PATH|-", help="write the figures as JSON ('-' = stdout, nothing else there)")
    p.set_defaults(func=cmd_economics)

    from bench.verbs import plan as plan_verb

    p = verbs.add_parser("plan", help=plan_verb.HELP, epilog=plan_verb.EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    plan_verb.add_arguments(p)
    p.set_defaults(func=cmd_plan)

    p = verbs.add_parser("report", help="re-render a saved run")
    p.add_argument("run_json", metavar="RUN.json")
    p.add_argument("--out", metavar="DIR", help="write report.md/report.html/plots here")
    p.set_defaults(func=cmd_report)

    p = verbs.add_parser("compare", help="compare two saved runs: ratios and significance")
    p.add_argument("a", metavar="A.json")
    p.add_argument("b", metavar="B.json")
    p.add_argument("--fail-threshold", type=float, default=None, metavar="FRACTION",
                   help="exit 1 when a significant regression is larger than this (e.g. 0.05)")
    p.add_argument("--json", metavar="PATH|-")
    p.set_defaults(func=cmd_compare)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except UsageError as exc:
        return _fail(str(exc), exc.exit_code)
    except VerificationError as exc:
        return _fail(f"verification failed: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0


__all__ = ["main", "build_parser"]
