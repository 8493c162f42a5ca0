"""The site view a run stores: every ASIC, every priced GPU, hosting, J/TH, GEMM scaling, sensitivity."""

import copy

import pytest

from bench import pricing as site_view
from bench import profiles
from bench.errors import UsageError
from bench.results import check_document, load_run
from tests.test_report import FULL


@pytest.fixture(scope="module")
def results():
    return check_document(load_run(FULL))


@pytest.fixture(scope="module")
def view(results):
    return site_view.economics(results)


def test_every_asic_and_every_priced_gpu_is_priced(view):
    ps = profiles.profiles()
    market = ps.latest_market()
    mining = [u for u in view["uses"] if u["use"] == "mining"]
    assert {u["profile"] for u in mining} == set(ps.by_kind["asic"])
    assert [u["profile"] for u in mining] == sorted((u["profile"] for u in mining),
                                                     key=lambda i: ps.by_kind["asic"][i].j_per_th)
    for use in ("gpuaas", "tokens"):
        assert {u["profile"] for u in view["uses"] if u["use"] == use} == set(market.gpu_hour_usd)
    assert [u["use"] for u in view["uses"]].count("hosting") == 1
    for u in view["uses"]:
        assert u["margin_usd_per_mw_year"] == pytest.approx(u["revenue_usd_per_mw_year"] - u["power_cost_usd_per_mw_year"])
        assert u["pue"] >= 1


def test_mining_rows_match_the_economics_module(view):
    from bench import economics

    ps = profiles.profiles()
    site, market, asic = ps.default_site(), ps.latest_market(), ps.find("asic", "s21-xp")
    direct = economics.compare_uses(site, market, asic, ps.find("gpu", "h100-sxm")).uses["mining"]
    row = next(u for u in view["uses"] if u["profile"] == "s21-xp")
    assert row["revenue_usd_per_mw_year"] == pytest.approx(direct.revenue_usd_per_year)
    assert row["pue"] == site.pue_for("mining")


def test_measured_mining_efficiency_uses_the_measured_power(view, results):
    r = next(r for r in results if r.backend == "numba-cpu" and r.workload == "sha256d")
    row = next(x for x in view["mining_efficiency"] if x["name"].startswith("numba-cpu:0"))
    assert row["j_per_th"] == pytest.approx(r.energy["joules_per_unit"] * 1e12)  # as the workload table says
    assert row["basis"] == "measured here (estimate)" and row["kind"] == "cpu"
    assert sum(x["kind"] == "asic" for x in view["mining_efficiency"]) == len(profiles.profiles().by_kind["asic"])


def test_unverified_results_never_reach_the_economics(results):
    bad = copy.deepcopy(results)
    for r in bad:
        r.verified = False
    view = site_view.economics(bad)
    assert all(x["kind"] == "asic" for x in view["mining_efficiency"])
    assert view["gemm_scaling"] == []


def test_gemm_scaling_applies_the_fraction_measured_on_the_largest_shape(view):
    rows = view["gemm_scaling"]
    assert rows and all(r["dtype"] == "fp32" for r in rows)
    assert all(r["measured_on"].endswith("1024x1024x1024") and r["measured_on"].startswith("numpy:0") for r in rows)
    assert rows[0]["measured_efficiency"] == pytest.approx(0.72 / 0.8 * 0.85, rel=0.05)
    for r in rows:
        assert r["scaled_flop_per_s"] == pytest.approx(r["measured_efficiency"] * r["peak_flop_per_s"])
        assert r["scaled_flop_per_joule"] == pytest.approx(r["scaled_flop_per_s"] / r["system_w_per_gpu"])


def test_sensitivity_grid_is_oriented_for_the_heatmap(view):
    g = view["sensitivity"]
    assert len(g["z"]) == len(g["ys"]) and len(g["z"][0]) == len(g["xs"])
    assert min(min(row) for row in g["z"]) < 0 < max(max(row) for row in g["z"])  # a break-even line exists


def test_named_profiles_only(results):
    view = site_view.economics(results, profiles=["s21-xp", "h100-sxm"])
    assert [(u["use"], u["profile"]) for u in view["uses"]] == [
        ("mining", "s21-xp"), ("gpuaas", "h100-sxm"), ("tokens", "h100-sxm"), ("hosting", "")]


@pytest.mark.parametrize("kw,words", [
    ({"profiles": ["nope"]}, "no ASIC or GPU profile 'nope'"),
    ({"profiles": ["host"]}, "CPU profile"),
    ({"site": "mars"}, "mars"),
    ({"market": "1999"}, "1999"),
])
def test_bad_inputs_are_usage_errors(kw, words):
    with pytest.raises(UsageError, match=words):
        site_view.check_inputs(**kw)
