import json
import random
from pathlib import Path

import pytest

from bench import compare
from bench.results import load_run
from tests.cli import assert_usage_error, run_cli

RUNS = Path(__file__).parent / "fixtures" / "runs"
A, B = str(RUNS / "baseline.json"), str(RUNS / "regressed.json")


def samples(mean, spread, n=12, seed=0):
    rng = random.Random(seed)
    return [mean * (1 + rng.gauss(0, spread)) for _ in range(n)]


def test_significance_separates_real_changes_from_noise():
    assert compare.significance(samples(100, 0.01), samples(80, 0.01, seed=1)) < 0.001
    assert compare.significance(samples(100, 0.05), samples(100, 0.05, seed=1)) > 0.05
    assert compare.significance([1.0, 2.0], [1.0, 2.0, 3.0]) is None  # too few to say
    assert compare.significance([1.0, 2.0, 3.0], [7.0, 8.0, 9.0]) is None  # 3 vs 3: p >= 0.1 whatever they are
    assert compare.significance([1.0, 2.0, 3.0, 4.0], [7.0, 8.0, 9.0, 10.0]) < 0.05
    assert compare.significance([5.0] * 4, [5.0] * 4) == 1.0


def test_pairs_of_the_fixture_runs():
    pairs = {p.key: p for p in compare.compare_docs(load_run(A), load_run(B))}
    slow = pairs["sha256d/numba-cpu:0/count=4194304"]
    assert slow.verdict == "slower" and slow.ratio == pytest.approx(0.8, rel=0.03) and slow.p_value < 0.05
    same = pairs["sha256d/hashlib:0/count=1048576"]
    assert same.verdict == "no significant change"
    assert pairs["sha256d/opencl:0/count=4194304"].verdict == "only in B"
    assert any(p.verdict == "only in A" and p.workload == "inference" for p in pairs.values())


def test_regressions_respect_the_threshold():
    pairs = compare.compare_docs(load_run(A), load_run(B))
    assert [p.backend for p in compare.regressions(pairs, 0.05)] == ["numba-cpu"]
    assert compare.regressions(pairs, 0.5) == []


def test_unverified_results_are_not_compared():
    a, b = load_run(A), load_run(B)
    b["results"][1]["verified"] = False
    pairs = {p.key: p for p in compare.compare_docs(a, b)}
    assert pairs["sha256d/numba-cpu:0/count=4194304"].verdict.startswith("unverified")


def test_compare_cli_table_and_exit_codes():
    ok = run_cli("compare", A, B)
    assert ok.code == 0, ok.err
    assert "slower" in ok.out and "only in B" in ok.out and "Mann-Whitney" in ok.out
    failing = run_cli("compare", A, B, "--fail-threshold", "0.05")
    assert failing.code == 1
    assert "regression" in failing.err and "numba-cpu" in failing.err
    assert run_cli("compare", A, B, "--fail-threshold", "0.5").code == 0
    assert run_cli("compare", A, A, "--fail-threshold", "0.0").code == 0


def test_compare_json_to_stdout_is_only_json():
    result = run_cli("compare", A, B, "--json", "-", "--fail-threshold", "0.1")
    data = json.loads(result.out)
    assert result.code == 1
    assert data["regressions"] == ["sha256d/numba-cpu:0/count=4194304"]
    assert {p["verdict"] for p in data["pairs"]} >= {"slower", "only in A", "only in B"}


@pytest.mark.parametrize("args,words", [
    ([A, "/nonexistent/b.json"], ["no such file"]),
    ([A, B, "--fail-threshold", "5"], ["fraction"]),
    ([A, B, "--fail-threshold", "x"], ["invalid float"]),
    ([A], ["B.json"]),
])
def test_compare_bad_input_exits_2(args, words):
    assert_usage_error(run_cli("compare", *args), *words)
