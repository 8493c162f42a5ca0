"""The CLI contract under generated input (hypothesis), in-process through bench.cli.main for speed:
exit code in {0, 1, 2, 130}; exit 2 comes with exactly one stderr line; never a traceback or an internal error;
`--json -` puts nothing but one JSON document on stdout. Arguments are drawn from each verb's own flags with
hostile values; run files are the baseline fixture with one field replaced by an arbitrary JSON value."""

from __future__ import annotations

import contextlib
import io
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import cli
from tests.cli import ROOT

BASE_FILE = ROOT / "tests/fixtures/runs/baseline.json"
BASE = json.loads(BASE_FILE.read_text())
HEADER = ("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
          "67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")
SCALE = int(os.environ.get("SITEBENCH_FUZZ_SCALE", "1"))  # e.g. 20 for a deeper local hunt; CI keeps 1
FAST = settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])

# any character but lone surrogates, given explicitly: st.text's default alphabet (codec utf-8) warns that
# ' ' does not round-trip when hypothesis 6.170 builds its character map afresh, as in CI
CHARACTERS = st.characters(exclude_categories=("Cs",))
hostile_text = st.one_of(
    st.sampled_from(["", "-", "-1", "0", "010", "0x10", "1e400", "nan", "inf", "[/bold]", "[hydro]", "../..",
                     "/proc/x/y", "/dev/null", "a" * 300, "\x00", "é", "2**32", str(2**32), "1_000", " 5 "]),
    st.text(CHARACTERS, max_size=12),
)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str), hostile_text)


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_contract(argv: list[str], code: int, out: str, err: str) -> None:
    assert code in (0, 1, 2, 130), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 2:
        assert len([x for x in err.splitlines() if x.strip()]) == 1, (argv, err)
    if code == 0 and "--json" in argv and argv[argv.index("--json") + 1:][:1] == ["-"]:
        json.loads(out)  # nothing but the JSON document


def economics_args():
    flags = ["--pue", "--power-price", "--btc-price", "--difficulty", "--fees-btc-per-block", "--gpu-hour-price",
             "--hosting-price"]
    pair = st.tuples(st.sampled_from(flags), numbers).map(list)
    ids = st.tuples(st.sampled_from(["--site", "--market", "--asic", "--gpu"]), hostile_text).map(list)
    return st.lists(st.one_of(pair, ids), max_size=3).map(lambda xs: ["economics", *sum(xs, []), "--json", "-"])


def mine_args():
    header = st.one_of(st.just(HEADER), st.just(HEADER[:80] + " " + HEADER[80:]), hostile_text)
    count = st.one_of(st.integers(-5, 3000).map(str), hostile_text)
    extra = st.lists(st.tuples(st.sampled_from(["--start", "--target", "--backend"]), hostile_text).map(list),
                     max_size=2)
    return st.tuples(header, count, extra).map(lambda t: ["mine", "--header", t[0], "--count", t[1],
                                                          *sum(t[2], []), "--json", "-"])


def run_args():
    """`run` arguments that must be refused before measuring (or measure nothing): every value is hostile."""
    flag = st.sampled_from(["--budget", "--shape", "--dtype", "--model", "--prompt", "--batch", "--backend",
                            "--profile", "--site", "--market", "--json", "--out", "--mpi-timeout"])
    return st.lists(st.tuples(flag, hostile_text).map(list), min_size=1, max_size=3).map(
        lambda xs: ["run", "--workload", "gemm", "--workload", "inference", *sum(xs, []), "--backend", "no-such"])


@FAST
@given(economics_args())
def test_economics_keeps_the_contract(argv):
    assert_contract(argv, *call(argv))


@FAST
@given(mine_args())
def test_mine_keeps_the_contract(argv):
    assert_contract(argv, *call(argv))


@settings(max_examples=15 * SCALE, deadline=None)
@given(run_args())
def test_run_refuses_bad_input_in_one_line(argv):
    code, out, err = call(argv)
    assert_contract(argv, code, out, err)
    assert code == 2  # `--backend no-such` at the least: nothing is ever measured here


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(CHARACTERS, max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(CHARACTERS, max_size=5), inner, max_size=3)),
                           max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(BASE) if p and ("economics" not in p[:1] or len(p) <= 3)]


def _replace(doc, path, value):
    doc = json.loads(json.dumps(doc))
    here = doc
    for part in path[:-1]:
        here = here[part]
    here[path[-1]] = value
    return doc


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PATHS), json_values, st.sampled_from(["report", "compare"]))
def test_a_mutated_run_file_is_rendered_or_refused_in_one_line(tmp_path_factory, path, value, verb):
    folder = tmp_path_factory.mktemp("fuzz")
    bad = folder / "run.json"
    bad.write_text(json.dumps(_replace(BASE, path, value)))
    argv = ["report", str(bad), "--out", str(folder / "out")] if verb == "report" else [
        "compare", str(BASE_FILE), str(bad), "--json", "-"]
    code, out, err = call(argv)
    assert_contract(argv, code, out, err)
