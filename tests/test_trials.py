"""Kept trial outcomes (kernels/runtime/trials.py): a round trip, a damaged file, the key."""

from kernels.runtime import trials


def test_an_outcome_comes_back_and_a_problem_says_where_it_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path))
    passed, hung = trials.key(kernel="a"), trials.key(kernel="b")
    assert trials.recall(passed) is None
    trials.remember(passed, None, {"kernel": "a"})
    trials.remember(hung, "did not finish in 60 s", {"kernel": "b"})
    assert trials.recall(passed) == trials.Outcome(None)
    assert trials.recall(hung).problem == (f"did not finish in 60 s (an earlier trial's outcome, kept in "
                                           f"{tmp_path / 'trials' / hung}.json: delete it to try again)")


def test_a_damaged_file_is_no_outcome(monkeypatch, tmp_path):
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path))
    damaged = trials.key(kernel="a")
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / f"{damaged}.json").write_text('{"problem": ')
    assert trials.recall(damaged) is None
    (tmp_path / "trials" / f"{damaged}.json").write_text('{"other": 1}')
    assert trials.recall(damaged) is None


def test_the_key_depends_on_every_part_and_not_on_their_order():
    assert trials.key(a=1, b=(2, 3)) == trials.key(b=[2, 3], a=1)
    assert trials.key(a=1, b=2) != trials.key(a=1, b=3) and len(trials.key(a=1)) == 32
