"""`bench economics` and `bench profiles` as a user runs them: tables, JSON, and every bad input -> exit 2."""

import json
from pathlib import Path

import pytest

from tests.cli import assert_usage_error, run_cli

BAD = Path(__file__).parent / "fixtures" / "profiles_bad"


def test_economics_table_compares_the_four_uses():
    result = run_cli("economics")
    assert result.code == 0, result.err
    for word in ("Mining", "GPUaaS", "Hosting", "Token sales", "PUE applied", "AI / mining revenue per MW",
                 "break-even", "s21-xp", "gb200-nvl72", "site revenue (18 MW)"):
        assert word in result.out, word


def test_economics_json_to_stdout_only():
    result = run_cli("economics", "--json", "-", "--gpu", "h100-sxm", "--asic", "s21")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    econ = data["economics"]
    assert set(econ["uses"]) == {"mining", "gpuaas", "hosting", "tokens"}
    assert econ["gpu"] == "h100-sxm" and econ["inputs"]["gpu_hour_usd"] == 2.35
    assert econ["ai_to_mining_revenue"] > 1
    assert data["break_even"]["mining_btc_price_usd"] > 0
    assert len(data["sensitivity"]["advantage"]) == 10


def test_economics_overrides_are_applied_and_stated(tmp_path):
    out = tmp_path / "econ.json"
    result = run_cli("economics", "--pue", "1.0", "--btc-price", "120000", "--power-price", "30",
                     "--gpu-hour-price", "3", "--hosting-price", "150", "--difficulty", "150e12",
                     "--fees-btc-per-block", "0.05", "--json", str(out))
    assert result.code == 0, result.err
    assert "PUE applied: mining 1, gpuaas 1, hosting 1, tokens 1 (--pue override)" in result.out
    econ = json.loads(out.read_text())["economics"]
    assert econ["inputs"]["btc_price_usd"] == 120000 and econ["inputs"]["fees_btc_per_block"] == 0.05
    assert econ["uses"]["hosting"]["revenue_usd_per_year"] == pytest.approx(150 * 1000 * 12)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--pue", "0.9"], ["--pue", ">= 1", "0.9"]),
        (["--pue", "abc"], ["--pue", "invalid float"]),
        (["--btc-price", "-5"], ["--btc-price", "> 0"]),
        (["--power-price", "nan"], ["--power-price"]),
        (["--difficulty", "148.26"], ["--difficulty", "148.26e12"]),
        (["--gpu-hour-price", "0"], ["--gpu-hour-price", "> 0"]),
        (["--hosting-price", "inf"], ["--hosting-price"]),
        (["--fees-btc-per-block", "-1"], ["--fees-btc-per-block"]),
        (["--site", "nowhere"], ["no site profile 'nowhere'", "default-18mw"]),
        (["--market", "1999-01-01"], ["no market profile"]),
        (["--asic", "s99"], ["no asic profile 's99'"]),
        (["--gpu", "h900"], ["no gpu profile 'h900'"]),
    ],
)
def test_economics_bad_input_exits_2_with_one_line(args, words):
    assert_usage_error(run_cli("economics", *args), *words)


def test_profiles_lists_every_profile():
    result = run_cli("profiles")
    assert result.code == 0, result.err
    for word in ("s21-xp", "avalon-a16-xp", "m70s", "gb300-nvl72", "h100-sxm", "host", "default-18mw",
                 "2026-01-12", "(detected here)"):
        assert word in result.out, word


def test_profiles_json_and_user_folder():
    result = run_cli("profiles", "--json", "-", env={"SITEBENCH_PROFILES": str(BAD / "good")})
    assert result.code == 0, result.err
    data = json.loads(result.out)
    ids = {(p["kind"], p["id"]) for p in data["profiles"]}
    assert ("market", "2026-02-01-test") in ids and ("asic", "s21-xp") in ids and ("cpu", "host") in ids
    assert len([i for i in ids if i[0] == "asic"]) == 16


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing_field", ["x.toml", "power_w", "required"]),
        ("wrong_unit_name", ["power_kw", "unknown field"]),
        ("negative_power", ["tdp_w", ">= 10"]),
        ("pue_below_1", ["pue: must be >= 1 (got 0.9)"]),
        ("duplicate_id", ["duplicate id"]),
        ("not_toml", ["not valid TOML"]),
    ],
)
@pytest.mark.parametrize("verb", ["profiles", "economics"])
def test_bad_profile_files_exit_2_naming_file_field_rule(verb, case, words):
    assert_usage_error(run_cli(verb, env={"SITEBENCH_PROFILES": str(BAD / case)}), *words)


# --- issue #14: cost lines, every printed figure as a number, bad input found before ------------------


def test_economics_shows_the_cost_lines_and_json_carries_every_figure():
    result = run_cli("economics")
    assert result.code == 0, result.err
    for word in ("opex", "EBITDA", "depreciation", "operating profit", "break-even with every cost"):
        assert word in result.out, word
    data = json.loads(run_cli("economics", "--json", "-").out)
    figures, be = data["figures"], data["break_even"]
    for key in ("mining_hashprice_usd_per_ph_day", "mining_hashcost_usd_per_ph_day", "mining_btc_per_day",
                "mining_cash_cost_per_btc_usd", "mining_all_in_cost_per_btc_usd", "tokens_per_s_per_gpu",
                "hosting_power_passed_through_usd_per_year", "ai_to_mining_revenue"):
        assert isinstance(figures[key], (int, float)), key
    assert figures["mining_hashprice_usd_per_ph_day"] == pytest.approx(38.85, abs=0.01)
    assert figures["tokens_revenue_usd_per_gpu_hour"] == pytest.approx(7.57, abs=0.01)  # 1.67x the $4.54 rental
    assert figures["site"]["gpuaas"]["capex_usd"] == pytest.approx(517e6, rel=0.01)  # against $128M of financing
    assert be["gpuaas_gpu_hour_all_in_usd"] > be["gpuaas_gpu_hour_usd"] > 0
    assert be["mining_btc_price_all_in_usd"] > be["mining_btc_price_usd"] > 0
    gpu = data["economics"]["uses"]["gpuaas"]
    assert gpu["opex_usd_per_year"] > 0 and gpu["depreciation_usd_per_year"] > 0


def test_economics_pue_per_use():
    result = run_cli("economics", "--pue-ai", "1.3", "--pue-mining", "1.1", "--json", "-")
    assert result.code == 0, result.err
    pues = json.loads(result.out)["economics"]["inputs"]["pue_by_use"]
    assert pues == {"mining": 1.1, "gpuaas": 1.3, "hosting": 1.3, "tokens": 1.3}


@pytest.mark.parametrize(
    "args,words",
    [
        (["--power-price", "0.045"], ["--power-price", "looks like $/kWh", "45 $/MWh"]),
        (["--difficulty", "1e300"], ["--difficulty", "full difficulty"]),
        (["--btc-price", "1e-300"], ["--btc-price", "USD per BTC"]),
        (["--btc-price", "1e308", "--json", "-"], ["--btc-price", "USD per BTC"]),
        (["--gpu-hour-price", "1e308"], ["--gpu-hour-price", "USD per GPU-hour"]),
        (["--hosting-price", "1e9"], ["--hosting-price", "kW-month"]),
        (["--fees-btc-per-block", "50"], ["--fees-btc-per-block", "BTC per block"]),
        (["--pue-ai", "0.8"], ["--pue-ai", ">= 1"]),
        (["--json", "tests"], ["--json", "is a folder"]),
        (["--json", "/proc/nope/econ.json"], ["--json", "cannot write"]),
    ],
)
def test_economics_implausible_input_exits_2_naming_flag_and_unit(args, words):
    assert_usage_error(run_cli("economics", *args), *words)


def test_economics_zero_subsidy_and_zero_fees_exit_2(tmp_path):
    market = (Path(__file__).parent.parent / "hardware_profiles" / "market" / "2026-01-12.toml").read_text()
    market = (market.replace('id = "2026-01-12"', 'id = "2300-01-01-test"').replace("date = 2026-01-12", "date = 2300-01-01")
              .replace("block_height = 931968", "block_height = 13440000"))
    (tmp_path / "market").mkdir()
    (tmp_path / "market" / "future.toml").write_text(market)
    result = run_cli("economics", "--fees-btc-per-block", "0", env={"SITEBENCH_PROFILES": str(tmp_path)})
    assert_usage_error(result, "mining earns nothing", "--fees-btc-per-block")
