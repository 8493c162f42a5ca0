"""`python -m bench plan` as a user runs it: the verdict first, JSON and CSV, the seed case, bad input -> exit 2."""

import csv
import json

import pytest

from bench.cli import build_parser
from bench.errors import UsageError
from bench.files import check_finite
from tests.cli import ROOT, assert_usage_error, run_cli


def test_plan_prints_a_ranked_verdict_first():
    result = run_cli("plan", "--no-scenarios")
    assert result.code == 0, result.err
    first = result.out.splitlines()[0]
    assert " wins: NPV $" in first and "ahead of" in first
    for word in ("ranked by NPV", "keep mining", "convert all to GPUaaS", "convert all to hosting", "phased conversion",
                 "split", "payback", "peak funding", "EV per MW", "year by year", "break-evens", "basis: published"):
        assert word in result.out, word


def test_plan_json_to_stdout_only_and_csv(tmp_path):
    out = tmp_path / "months.csv"
    result = run_cli("plan", "--json", "-", "--csv", str(out), "--years", "3", "--strategy", "mining",
                     "--strategy", "hosting", "--no-scenarios")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["years"] == 3 and set(data["ranking"]) == {"mining", "hosting"}
    assert all(len(s["cash_flows"]) == 36 for s in data["strategies"])
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["strategy", "month", "revenue_usd", "power_usd", "opex_usd", "capex_usd", "financing_usd",
                       "tax_usd", "net_usd"]
    assert len(rows) == 1 + 2 * 36


def test_plan_overrides_are_applied():
    result = run_cli("plan", "--json", "-", "--btc-price", "150000", "--gpu-hour-price", "3.5", "--build-months", "18",
                     "--pue-ai", "1.3", "--tax-rate", "0", "--no-scenarios", "--strategy", "gpuaas")
    assert result.code == 0, result.err
    x = json.loads(result.out)["inputs"]
    assert x["btc_price_usd"] == 150000 and x["gpu_hour_usd"] == 3.5 and x["build_months"] == 18
    assert x["pue_gpuaas"] == 1.3 and x["pue_mining"] == 1.05 and x["tax_rate"] == 0


def test_plan_seed_scenario_shows_the_published_figures():
    result = run_cli("plan", "--site", "seed-washington-18mw-gb300", "--no-scenarios")
    assert result.code == 0, result.err
    for word in ("seed case", "$82,400", "25x revenue potential", "$6M per MW", "$128M financing", "gb300"):
        assert word.lower() in result.out.lower(), word


def test_plan_measured_basis_from_a_saved_run():
    run = ROOT / "reports" / "example-h100" / "run.json"
    result = run_cli("plan", "--basis", "measured", "--run", str(run), "--json", "-", "--no-scenarios")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["basis"] == "measured" and "scaled from this run's measurement" in data["basis_detail"]
    assert "tokens" in data["ranking"]  # a basis given: token sales are compared too


def test_every_plan_and_economics_flag_has_help_with_a_unit():
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    for verb in ("plan", "economics"):
        for action in verbs[verb]._actions:
            if action.dest == "help":
                continue
            assert action.help, (verb, action.option_strings)
            if action.type is float:
                assert any(u in action.help for u in ("$", "USD", "fraction", "PUE", "BTC", "MW", "years", "months",
                                                      "difficulty", "(1-")), (verb, action.option_strings)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--power-price", "0.045"], ["--power-price", "$/MWh", "looks like $/kWh"]),
        (["--difficulty", "1e300"], ["--difficulty", "full difficulty"]),
        (["--difficulty", "148.26"], ["--difficulty", "148.26e12"]),
        (["--difficulty-growth", "0.99"], ["--difficulty-growth", "fraction per month"]),
        (["--btc-price", "1e-300"], ["--btc-price", "USD"]),
        (["--btc-price", "1e308"], ["--btc-price", "USD"]),
        (["--gpu-hour-price", "nan"], ["--gpu-hour-price", "finite"]),
        (["--discount-rate", "10"], ["--discount-rate", "looks like a percentage"]),
        (["--years", "0"], ["--years", "years"]),
        (["--years", "2.5"], ["--years", "whole"]),
        (["--build-months", "99"], ["--build-months", "months"]),
        (["--strategy", "moon"], ["--strategy", "invalid choice"]),
        (["--basis", "measured"], ["--basis measured needs --run"]),
        (["--run", "x.json"], ["--run", "only used with --basis measured"]),
        (["--basis", "measured", "--run", "/nonexistent/run.json"], ["--run", "cannot read"]),
        (["--btc-price-csv", "/nonexistent.csv"], ["--btc-price-csv", "cannot read"]),
        (["--json", "tests"], ["--json", "is a folder"]),
        (["--json", "/proc/nope/plan.json"], ["--json", "cannot write"]),
        (["--csv", "-", "--json", "-"], ["--csv", "stdout"]),
        (["--site", "nowhere"], ["no site profile 'nowhere'"]),
    ],
)
def test_plan_bad_input_exits_2_with_one_line(args, words):
    assert_usage_error(run_cli("plan", "--no-scenarios", *args), *words)


def test_plan_bad_run_file_and_price_csv(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text("{not json")
    assert_usage_error(run_cli("plan", "--basis", "measured", "--run", str(bad)), "--run", "not a run JSON")
    empty = tmp_path / "empty.json"
    empty.write_text('{"results": []}')
    assert_usage_error(run_cli("plan", "--basis", "measured", "--run", str(empty)), "--run", "no verified inference")
    prices = tmp_path / "p.csv"
    prices.write_text("price\n90000\n-1\n")
    assert_usage_error(run_cli("plan", "--btc-price-csv", str(prices)), "--btc-price-csv", "row 3")


def test_non_finite_numbers_never_reach_json():
    check_finite({"a": [1.0, {"b": 2}], "c": None}, "plan")
    with pytest.raises(UsageError, match=r"plan\.strategies\[1\]\.npv_usd is not a finite number"):
        check_finite({"strategies": [{"npv_usd": 1.0}, {"npv_usd": float("inf")}]}, "plan")
