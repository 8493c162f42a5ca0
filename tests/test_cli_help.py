"""A CLI that explains itself: --version, examples under every verb's --help, help text on every flag,
and `run --list` saying what a run would do and how long it would take, without measuring."""

import argparse
import re
import subprocess
import sys

import pytest

from bench import __version__
from bench.cli import VERBS, build_parser, verb_module
from bench.runner import Options
from bench.runner.listing import SETUP_S, estimate_s
from tests.cli import run_cli


def verb_parsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_version():
    result = run_cli("--version")
    assert result.code == 0 and __version__ in result.out


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_examples(verb):
    epilog = verb_module(verb).EPILOG
    assert epilog.startswith("examples:\n  python -m bench " + verb) or "mpirun" in epilog


@pytest.mark.parametrize("verb", ["run", "report", "compare"])
def test_every_flag_and_argument_has_help(verb):
    p = verb_parsers()[verb]
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, action.dest


@pytest.mark.parametrize("verb,flag,unit", [
    ("run", "--budget", "seconds"), ("run", "--prompt", "tokens"), ("run", "--batch", "sequences"),
    ("run", "--shape", "elements"), ("run", "--mpi-timeout", "seconds"), ("run", "--list", "minutes"),
    ("compare", "--fail-threshold", "fraction"), ("report", "--site-csv", "USD per MW"),
])
def test_flags_with_a_quantity_name_its_unit(verb, flag, unit):
    action = next(a for a in verb_parsers()[verb]._actions if flag in a.option_strings)
    assert unit in action.help


def test_top_level_help_lists_the_environment():
    result = run_cli("--help")
    assert result.code == 0
    for name in ("SITEBENCH_PROFILES", "SITEBENCH_CACHE_DIR", "NUMBA_NUM_THREADS", "NUMBA_ENABLE_CUDASIM"):
        assert name in result.out


def test_run_list_measures_nothing_and_estimates_the_time(tmp_path):
    result = run_cli("run", "--list", "--workload", "sha256d", "--backend", "numba-cpu", "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    assert "numba-cpu:0" in result.out and "hashlib:0" in result.out
    found = re.search(r"(\d+) cases; budget ([\d.]+) s .* about ([\d.]+) min", result.out.replace("\n", " "))
    assert found, result.out
    cases, budget = int(found.group(1)), float(found.group(2))
    assert cases == 2 and budget == Options().budget.budget_s
    assert float(found.group(3)) == pytest.approx(cases * (budget + SETUP_S) / 60, abs=0.05)
    assert not (tmp_path / "r").exists()  # nothing measured, nothing written


def test_estimate_grows_with_cases_and_budget():
    assert estimate_s([object()] * 10, 1.0) == pytest.approx(10 * (1.0 + SETUP_S))
    assert estimate_s([object()] * 10, 0.2) < estimate_s([object()] * 10, 1.0)


def test_run_list_bad_input_is_one_line():
    result = run_cli("run", "--list", "--backend", "nosuch")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1


def test_only_the_chosen_verb_is_imported():
    code = ("import sys; from bench.cli import main; main(['profiles', '--json', '-']); "
            "print(sorted(m for m in sys.modules if m.startswith('bench.verbs.')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "['bench.verbs.profiles']"
