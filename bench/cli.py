"""`python -m bench VERB` and `sitebench VERB`: one parser built from the verb modules, errors as exit codes.

Each verb is a module in bench/verbs/ with HELP, EPILOG, add_arguments(parser) and main(args) -> exit code;
adding a verb is adding its name to VERBS. Only the verb on the command line is imported (as git and pyperf
do): `plan` never loads the runner or the reports, and `mine` never loads pydantic or the report models;
`--help` loads them all. Exit codes: 0 success; 1 a result failed verification; 2 bad input or a
backend/profile that does not exist or cannot run here (one line on stderr, never a traceback);
130 interrupted (Ctrl-C), 143 SIGTERM, 129 SIGHUP (bench.signals; `run` and `mine` save what is done first).
A reader that closes stdout (`| head`) is not an error: exit 0, every file having been written before stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from bench import __version__, console
from bench.errors import UsageError, VerificationError
from bench.signals import exit_code

PROG = "python -m bench"
VERBS = ("run", "mine", "backends", "profiles", "economics", "plan", "report", "compare")
ENVIRONMENT = """environment variables read:
  SITEBENCH_PROFILES    extra profile folders (joined with os.pathsep) beside the built-in ones
  SITEBENCH_CACHE_DIR   the suite's cache folder (default ~/.cache/sitebench)
  SITEBENCH_TRACEBACK   set to 1 to see the traceback of an internal error
  SITEBENCH_SHA256_CPU  lanes, sha-ni or arm-sha2: the numba-cpu SHA-256d scan (default: the CPU's SHA-256
                        unit, SHA-NI or Arm SHA2, where it has no AVX-512)
  NUMBA_NUM_THREADS, OMP_NUM_THREADS   threads of the CPU kernels; OPENBLAS_CORETYPE is reported if set
  OCL_ICD_VENDORS, OCL_ICD_FILENAMES   OpenCL drivers to load (the suite registers pip-installed ones if unset)
  NUMBA_ENABLE_CUDASIM  1 runs the Numba CUDA kernels in the (slow) simulator"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line and exit 2 (not the whole usage block)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def verb_module(name: str) -> ModuleType:
    """The module of verb `name` (bench/verbs/<name>.py), imported on first use."""
    return importlib.import_module(f"bench.verbs.{name}")


def chosen_verb(argv) -> str | None:
    """The verb an argument list names: the first word that is not an option (the top level takes only
    flags), or None when there is none or it is not a verb (argparse then says so)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in VERBS else None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI's parser; given `verb`, only that verb's module is imported and its arguments added (the
    others are names argparse can match, never parse with)."""
    parser = _Parser(prog=PROG, description="SHA-256d mining vs GEMM / AI inference: speed, energy, $ per MW",
                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sitebench {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True
    for name in VERBS:
        if verb not in (None, name):
            verbs.add_parser(name)
            continue
        module = verb_module(name)
        p = verbs.add_parser(name, help=module.HELP, description=module.HELP, epilog=module.EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(main=module.main)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(chosen_verb(argv)).parse_args(argv)
        code = int(args.main(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
        return code
    except UsageError as exc:
        return _fail(str(exc), exc.exit_code)
    except VerificationError as exc:
        return _fail(f"verification failed: {exc}", exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C 130; bench.signals.Stopped: SIGTERM 143, SIGHUP 129
        print(f"interrupted ({exc})" if str(exc) else "interrupted", file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours (every file is saved first)
        console.stdout_gone()
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, never a traceback (unless asked)
        if os.environ.get("SITEBENCH_TRACEBACK"):
            raise
        line = next((x.strip() for x in str(exc).splitlines() if x.strip()), "")
        return _fail(f"internal error {type(exc).__name__}: {line} (a bug; set SITEBENCH_TRACEBACK=1 "
                     "to see where, and please report it)", 1)


__all__ = ["main", "build_parser", "verb_module", "VERBS"]
