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


def test_compare_takes_run_folders_as_run_write_them(tmp_path):
    for name, path in (("a", A), ("b", B)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(Path(path).read_text())
    by_folder = run_cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", "-")
    by_file = run_cli("compare", A, B, "--json", "-")
    folder_doc, file_doc = json.loads(by_folder.out), json.loads(by_file.out)
    assert folder_doc.pop("a") == str(tmp_path / "a") and file_doc.pop("a") == A
    folder_doc.pop("b"), file_doc.pop("b")
    assert by_folder.code == by_file.code and folder_doc == file_doc
    assert_usage_error(run_cli("compare", str(tmp_path), B), "is a folder without a run.json")


@pytest.mark.parametrize("args,words", [
    ([A, "/nonexistent/b.json"], ["no such file"]),
    ([A, B, "--fail-threshold", "5"], ["fraction"]),
    ([A, B, "--fail-threshold", "x"], ["invalid float"]),
    ([A], ["B.json"]),
])
def test_compare_bad_input_exits_2(args, words):
    assert_usage_error(run_cli("compare", *args), *words)


EXAMPLES = [str(Path(__file__).resolve().parent.parent / "reports" / name / "run.json")
            for name in ("example", "example-h100")]


def test_bootstrap_interval_brackets_the_ratio_and_narrows_with_data():
    a, b = samples(100, 0.02, n=30), samples(80, 0.02, n=30, seed=1)
    low, high = compare.bootstrap_ci(a, b)
    assert low < 0.8 < high and high - low < 0.05
    wide = compare.bootstrap_ci(samples(100, 0.10, n=6), samples(80, 0.10, n=6, seed=1))
    assert wide[1] - wide[0] > high - low
    assert compare.bootstrap_ci([1.0], [2.0, 3.0]) is None
    assert compare.bootstrap_ci(a, b) == (low, high)  # seeded: the same files give the same interval


def test_summary_counts_and_geomean():
    pairs = compare.compare_docs(load_run(A), load_run(B))
    s = compare.summarise(pairs)
    assert s.paired + s.unpaired == len(pairs)
    assert s.paired == s.faster + s.slower + s.unchanged + s.undecided
    assert s.slower >= 1 and s.only_a >= 1 and s.only_b == 1
    ratios = [p.ratio for p in pairs if p.ratio]
    assert min(ratios) < s.geomean < max(ratios)
    assert "paired" in s.line() and "geomean B/A" in s.line()
    numba = next(p for p in pairs if p.key == "sha256d/numba-cpu:0/count=4194304")
    assert numba.ci_low < numba.ratio < numba.ci_high < 1.0


def test_machine_changes_name_what_differs():
    a, b = load_run(A), load_run(B)
    assert compare.machine_changes(a, a) == []
    assert compare.machine_changes(a, b) == ["host: fixture-host -> fixture-host-b"]
    b["run"]["packages"]["numpy"] = "9.9.9"
    b["run"]["blas"][0]["architecture"] = "Haswell"
    changes = " ".join(compare.machine_changes(a, b))
    assert "numpy 2.4.6 -> 9.9.9" in changes and "Haswell" in changes


def test_compare_of_the_two_examples_summarises_and_warns():
    result = run_cli("compare", *EXAMPLES, "--only-changed")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert "paired" in first and "unpaired" in first and "geomean B/A" in first
    assert "different machines" in result.out
    assert "GPU: none -> NVIDIA H100 80GB HBM3" in result.out and "95% CI" in result.out
    data = json.loads(run_cli("compare", *EXAMPLES, "--json", "-").out)
    assert data["summary"]["unpaired"] > 0 and data["machine_changes"]
    assert len(data["pairs"]) == data["summary"]["paired"] + data["summary"]["unpaired"]


def test_only_changed_hides_the_unchanged():
    everything = run_cli("compare", A, B)
    changed = run_cli("compare", A, B, "--only-changed")
    assert "no significant change" in everything.out and "no significant change" not in changed.out
    assert "not listed" in changed.out
    listed = changed.out.split("B = ", 1)[1]  # the table, after the summary line
    assert "slower" in listed and "only in B" not in listed and "only in A" not in listed
