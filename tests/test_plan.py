"""bench.economics.plan: the ranked strategies, the JSON contract and its identities, break-evens, the seed case,
the measured basis, and properties over random valid inputs."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import profiles as P
from bench.economics import claims, finance, inputs, measured, plan, scenarios
from bench.files import dumps

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = {"name", "npv_usd", "irr", "equity_irr", "payback_month", "capex_usd", "peak_funding_usd", "cash_flows"}
ROW = ["month", "revenue_usd", "power_usd", "opex_usd", "capex_usd", "financing_usd", "tax_usd", "net_usd"]


@pytest.fixture(scope="module")
def ps():
    return P.load([P.BUILTIN_DIR])


def _plan(ps, site_id=None, **kw):
    site = ps.find("site", site_id) if site_id else ps.default_site()
    return plan.build_plan(site, ps.latest_market(), ps.find("asic", site.default_asic),
                           ps.find("gpu", site.default_gpu), refresh_asic=ps.find("asic", site.plan.refresh_asic), **kw)


@pytest.fixture(scope="module")
def default(ps):
    return _plan(ps)


@pytest.fixture(scope="module")
def seed(ps):
    return _plan(ps, "seed-washington-18mw-gb300", with_scenarios=False)


def test_json_contract_and_ranking(default):
    d = json.loads(dumps(default.to_dict()))  # allow_nan=False: every number is finite
    assert d["discount_rate"] == 0.10 and d["basis"] == "published"
    assert {s["name"] for s in d["strategies"]} == {"mining", "gpuaas", "hosting", "phased", "split"}
    for s in d["strategies"]:
        assert CONTRACT <= set(s)
        assert list(s["cash_flows"][0]) == ROW and len(s["cash_flows"]) == 12 * d["years"]
    npvs = {s["name"]: s["npv_usd"] for s in d["strategies"]}
    assert d["ranking"] == sorted(npvs, key=lambda n: -npvs[n])


def test_npv_irr_payback_recomputed_from_the_json(ps):
    d = json.loads(dumps(_plan(ps, "seed-washington-18mw-gb300", with_scenarios=False).to_dict()))
    rate = d["discount_rate"]
    for s in d["strategies"]:
        months = np.array([r["month"] for r in s["cash_flows"]])
        net = np.array([r["net_usd"] for r in s["cash_flows"]])
        fin = np.array([r["financing_usd"] for r in s["cash_flows"]])
        assert s["npv_usd"] == pytest.approx(np.sum(net / (1 + rate) ** (months / 12)), rel=1e-9, abs=1e-3)
        if s["equity_irr"] is not None:
            assert abs(np.sum(net / (1 + s["equity_irr"]) ** (months / 12))) < 1e-6 * np.abs(net).sum()
        if s["irr"] is not None:
            project = net - fin
            assert abs(np.sum(project / (1 + s["irr"]) ** (months / 12))) < 1e-6 * np.abs(project).sum()
        cum = np.cumsum(net)
        if s["payback_month"] is None:
            assert np.all(cum < 0)
        else:
            assert cum[s["payback_month"] - 1] >= 0 and np.all(cum[: s["payback_month"] - 1] < 0)
        assert s["peak_funding_usd"] == pytest.approx(max(0.0, -cum.min()))
        for r in s["cash_flows"]:
            assert r["net_usd"] == pytest.approx(r["revenue_usd"] - r["power_usd"] - r["opex_usd"] - r["capex_usd"]
                                                 + r["financing_usd"] - r["tax_usd"], abs=1e-3)


def test_seed_uses_its_financing(seed):
    hosting = seed.strategy("hosting")
    drawn = sum(max(0.0, r["financing_usd"]) for r in hosting.cash_flows)
    assert 0 < drawn <= 128e6 * 1.0001
    assert hosting.equity_irr != hosting.irr  # debt levers the equity


def test_verdict_names_the_winner_the_margin_and_the_break_evens(default):
    first, second = default.strategies[:2]
    v = default.verdict
    assert v.startswith(f"{first.label} wins") and second.label in v and "flips" in v
    assert first.npv_usd > second.npv_usd
    values = default.break_evens["values"]
    assert set(values) == set(plan.BREAK_EVENS) and any(v is not None for v in values.values())


def test_break_even_equalises_the_two_npvs(ps, default):
    site, market = ps.default_site(), ps.latest_market()
    x = inputs.from_profiles(site, market, ps.find("asic", site.default_asic), ps.find("gpu", site.default_gpu),
                             refresh_asic=ps.find("asic", site.plan.refresh_asic))
    a, b = default.break_evens["between"]
    price = default.break_evens["values"]["gpu_hour_usd"]
    assert price is not None
    y = x.replace(gpu_hour_usd=price)
    gap = plan.npv_of(a, y) - plan.npv_of(b, y)
    assert abs(gap) < 1e-3 * abs(plan.npv_of(a, y))


def test_scenarios_bracket_the_base_and_the_tornado_is_sorted(default):
    for name, s in default.scenarios.items():
        assert s["low_usd"] <= s["base_usd"] <= s["high_usd"], name
    swings = [r["swing_usd"] for r in default.tornado]
    assert swings == sorted(swings, reverse=True) and len(swings) >= 6


def test_seed_scenarios_bracket_the_base_too(ps, seed):
    site, market = ps.find("site", "seed-washington-18mw-gb300"), ps.latest_market()
    x = inputs.PlanInputs(**{**seed.inputs, "btc_price_monthly": ()})
    out, rows = scenarios.run(x, ["mining", "hosting", "gpuaas"], site, market)
    for name, s in out.items():
        assert s["low_usd"] <= s["base_usd"] <= s["high_usd"], name


def test_every_strategy_has_a_valuation_line(default):
    for s in default.strategies:
        assert s.ev_per_mw_usd == pytest.approx(s.ev_usd / 18) and s.ev_usd >= 0


def test_seed_case_figures_with_their_assumptions(seed):
    s = seed.seed
    cost = s["cost_per_btc"]
    assert cost["reported_usd"] == 82_400
    assert cost["model_cash_usd"] < cost["model_all_in_usd"]
    assert 0.5 < cost["ratio_all_in_to_reported"] < 2  # same order: the model's stated fleet and power price
    j = cost["j_per_th_that_reproduces_reported"]
    x = inputs.PlanInputs(**{**seed.inputs, "btc_price_monthly": ()})
    assert j is not None and claims.cost_per_btc(x, j)["all_in_usd"] == pytest.approx(82_400, rel=1e-6)
    contract = s["hosting_contract"]
    # $6M as 10 years of rent on one IT MW with a 3% escalator: 6e6 / (1000 kW x 12 x sum(1.03^y, y < 10))
    assert contract["as_total_contract_value"]["implied_usd_per_kw_month"] == pytest.approx(
        6e6 / (12_000 * sum(1.03**y for y in range(10))))
    assert contract["years_of_rent_at_market_rate"] == pytest.approx(6e6 / (130 * 12_000))
    rp = s["revenue_potential"]
    assert rp["reported_x"] == 25 and rp["revenue_ratio"] > 1
    assert rp["revenue_ratio_today"] == pytest.approx(25, rel=0.05)  # the published 25x: revenue at today's prices
    assert s["financing"]["share_of_capex"]["hosting"] == pytest.approx(128e6 / seed.strategy("hosting").capex_usd)
    assert len(s["notes"]) == 4 and "$82,400" in s["notes"][0]


def test_measured_basis_scales_this_runs_decode_to_the_target(ps):
    run = json.loads((ROOT / "reports" / "example-h100" / "run.json").read_text())
    m = measured.best_decode(run)
    assert m.power_source == "nvml" and m.bandwidth_fraction is not None
    gb200 = ps.find("gpu", "gb200-nvl72")
    s = measured.scale_to_target(m, gb200, 70e9)
    assert s.method == "fraction of roofline"
    assert s.tokens_per_s_per_gpu == pytest.approx(m.tokens_per_s * 8e12 / m.local_bandwidth_bytes_per_s
                                                   / (70e9 / m.model_params))
    p = _plan(ps, names=["tokens", "mining"], basis="measured", measured=m, with_scenarios=False)
    assert p.basis == "measured" and "scaled from this run's measurement" in p.basis_detail
    assert p.inputs["tokens_per_s_per_gpu"] == pytest.approx(s.tokens_per_s_per_gpu)
    published = _plan(ps, names=["tokens", "mining"], with_scenarios=False)
    assert published.strategy("tokens").npv_usd != p.strategy("tokens").npv_usd


def test_per_watt_scaling_when_no_roofline_fraction(ps):
    m = measured.Measurement("cpu", 100.0, 50.0, "rapl", 135e6)
    s = measured.scale_to_target(m, ps.find("gpu", "h100-sxm"), 70e9)
    assert s.method == "throughput per watt"
    assert s.tokens_per_s_per_gpu == pytest.approx(100 / 50 * ps.find("gpu", "h100-sxm").system_w_per_gpu
                                                   / (70e9 / 135e6))
    with pytest.raises(ValueError, match="no verified inference decode"):
        measured.best_decode({"results": []})


def test_measured_basis_needs_a_measurement(ps):
    with pytest.raises(ValueError, match="needs a measurement"):
        _plan(ps, basis="measured", with_scenarios=False)
    with pytest.raises(ValueError, match="basis must be"):
        _plan(ps, basis="guessed", with_scenarios=False)


def test_a_site_without_a_plan_is_refused(ps):
    site = ps.default_site().model_copy(update={"plan": None})
    with pytest.raises(ValueError, match="no \\[plan\\] table"):
        plan.build_plan(site, ps.latest_market(), ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))


def _lo_hi(name):
    lo, hi, _ = inputs.PLAUSIBLE[name]
    return lo, hi


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    btc=st.floats(*_lo_hi("btc_price_usd")),
    power=st.floats(*_lo_hi("power_usd_per_mwh")),
    growth=st.floats(*_lo_hi("difficulty_growth_monthly")),
    gph=st.floats(*_lo_hi("gpu_hour_usd")),
    decay=st.floats(*_lo_hi("gpu_hour_decay_per_year")),
    rent=st.floats(*_lo_hi("hosting_usd_per_kw_month")),
    build=st.integers(0, 48),
    years=st.integers(1, 30),
    rate=st.floats(*_lo_hi("discount_rate")),
    tax=st.floats(*_lo_hi("tax_rate")),
    debt=st.floats(*_lo_hi("debt_share")),
    split=st.floats(*_lo_hi("split_mining_share")),
    phased=st.floats(0.1, 18.0),
    site=st.sampled_from(["default-18mw", "seed-washington-18mw-gb300"]),
)
def test_random_valid_inputs_give_finite_plans(ps, btc, power, growth, gph, decay, rent, build, years, rate, tax,
                                               debt, split, phased, site):
    p = _plan(ps, site, with_scenarios=False, names=list(plan.strategies.STRATEGIES), overrides=dict(
        btc_price_usd=btc, power_usd_per_mwh=power, difficulty_growth_monthly=growth, gpu_hour_usd=gph,
        gpu_hour_decay_per_year=decay, hosting_usd_per_kw_month=rent, build_months=build, hosting_build_months=build,
        years=years, discount_rate=rate, tax_rate=tax, debt_share=debt, debt_rate=0.08, split_mining_share=split,
        phased_mw_per_year=phased))
    text = dumps(p.to_dict())  # raises on NaN or infinity
    assert len(json.loads(text)["strategies"]) == 6
    for s in p.strategies:
        assert math.isfinite(s.npv_usd) and math.isfinite(s.peak_funding_usd)
        assert s.npv_usd == pytest.approx(finance.npv([r["net_usd"] for r in s.cash_flows],
                                                      [r["month"] for r in s.cash_flows], rate), rel=1e-9, abs=1e-3)
