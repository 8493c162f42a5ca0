"""The revenue-per-MW model (bench.economics) and the scaling to target machines (bench.scaling)."""

import importlib
import math
import pkgutil
import types

import numpy as np
import pytest

from bench import economics as E
from bench import profiles as P
from bench import scaling as S
from bench.results import Energy


@pytest.fixture(scope="module")
def ps():
    return P.load([P.BUILTIN_DIR])


@pytest.fixture(scope="module")
def market(ps):
    return ps.find("market", "2026-01-12")


def test_hashprice_of_12_jan_2026_within_2_percent_of_published(market):
    hp = E.hashprice_usd_per_ph_day(market.difficulty, market.btc_price_usd, E.subsidy_btc(market.block_height),
                                    market.fees_btc_per_block)
    assert abs(hp - 39.53) / 39.53 < 0.02
    assert market.hashprice_published_usd_per_ph_day == 39.53


def test_hashprice_by_hand():
    # 1e15 H/s finds 86400e15 / (D * 2**32) blocks a day
    assert E.hashprice_btc_per_ph_day(1e15 * 86400 / 2**32, 3.0, 0.125) == pytest.approx(3.125)


def test_hashcost_is_j_per_th_times_price_times_0_024():
    assert E.hashcost_usd_per_ph_day(15.0, 50.0) == pytest.approx(15 * 50 * 0.024)
    x = E.MiningInputs(1.0, 1.0, 15.0, 50.0, 90000, 148e12, 0.0, 3.125)
    r = E.mining(x)
    assert r.power_cost_usd_per_day / r.hashrate_ph == pytest.approx(E.hashcost_usd_per_ph_day(15.0, 50.0))


def test_15_j_per_th_fleet_at_39_53_earns_0_96m_per_mw_year():
    subsidy, fees, btc = 3.125, 0.0, 91132.0
    difficulty = 1e15 * 86400 * (subsidy + fees) * btc / (2**32 * 39.53)  # the difficulty giving $39.53/PH/day
    r = E.mining(E.MiningInputs(1.0, 1.0, 15.0, 0.0, btc, difficulty, fees, subsidy))
    assert r.hashprice_usd_per_ph_day == pytest.approx(39.53)
    assert r.hashrate_ph == pytest.approx(1e6 / 15 / 1e3)
    assert r.revenue_usd_per_year == pytest.approx(0.96e6, rel=0.01)


@pytest.mark.parametrize(
    "height,btc", [(0, 50.0), (209_999, 50.0), (210_000, 25.0), (840_000, 3.125), (1_050_000, 1.5625),
                   (64 * 210_000, 0.0)]
)
def test_subsidy_schedule(height, btc):
    assert E.subsidy_btc(height) == btc


def test_subsidy_is_vectorised_and_refuses_negative_heights():
    assert list(E.subsidy_btc(np.array([0, 630_000, 839_999]))) == [50.0, 6.25, 6.25]
    with pytest.raises(ValueError, match="height"):
        E.subsidy_btc(-1)


def test_pue_scaling_it_mw_is_facility_over_pue():
    assert E.it_mw(18, 1.25) == pytest.approx(14.4)
    assert E.it_mw(1, 1.0) == 1.0
    with pytest.raises(ValueError, match="pue must be >= 1"):
        E.it_mw(1, 0.9)


def test_mining_pays_power_on_facility_mwh_and_applies_uptime_and_pool_fee():
    x = E.MiningInputs(2.0, 1.25, 20.0, 40.0, 100_000, 148e12, 0.02, 3.125, pool_fee=0.02, uptime=0.9)
    r = E.mining(x)
    assert r.it_mw == pytest.approx(1.6)
    assert r.hashrate_ph == pytest.approx(1.6e6 / 20 / 1e3)
    assert r.power_cost_usd_per_year == pytest.approx(2.0 * 8760 * 0.9 * 40)
    hp = float(E.hashprice_btc_per_ph_day(148e12, 3.125, 0.02))
    assert r.btc_per_day == pytest.approx(hp * r.hashrate_ph * 0.9 * 0.98)
    assert r.cash_cost_per_btc_usd == pytest.approx(r.power_cost_usd_per_day / r.btc_per_day)


def test_mining_capex_payback_and_all_in_cost():
    x = E.MiningInputs(1.0, 1.0, 15.0, 40.0, 91132, 148.26e12, 0.017, 3.125, usd_per_th=15.0,
                       infra_capex_usd_per_mw=400_000, horizon_years=3)
    r = E.mining(x)
    assert r.capex_usd == pytest.approx(66_666.67 * 15 + 400_000, rel=1e-6)
    assert r.payback_years == pytest.approx(r.capex_usd / r.margin_usd_per_year)
    assert r.all_in_cost_per_btc_usd > r.cash_cost_per_btc_usd


def test_mining_projection_difficulty_growth_and_halving_lower_the_npv():
    x = E.MiningInputs(1.0, 1.05, 13.5, 45.0, 91132, 148.26e12, 0.017, 3.125, usd_per_th=15, horizon_years=3)
    flat = E.mining_projection(x, block_height=931_968, difficulty_growth_monthly=0.0, discount_rate=0.0)
    grow = E.mining_projection(x, block_height=931_968, difficulty_growth_monthly=0.02, discount_rate=0.0)
    assert grow.npv_usd < flat.npv_usd
    assert flat.subsidy_btc[0] == 3.125 and flat.subsidy_btc[-1] == 1.5625  # the 2028 halving falls inside
    assert grow.difficulty[12] == pytest.approx(148.26e12 * 1.02**12)
    early = E.mining_projection(x, block_height=0, difficulty_growth_monthly=0.0, discount_rate=0.0)
    base = E.mining(E.MiningInputs(**{**x.__dict__, "subsidy_btc": 50.0}))
    assert early.npv_usd == pytest.approx(-base.capex_usd + base.margin_usd_per_year * 3, rel=1e-3)


def test_gpuaas_revenue_by_hand():
    fleet = E.GpuFleet(1.0, 1.25, 1875.0, price_per_gpu_usd=50_000, facility_capex_usd_per_mw_it=10e6,
                       power_price_usd_per_mwh=50.0)
    assert fleet.gpus == 426  # 800 kW / 1,875 W
    r = E.gpuaas(fleet, 2.0, 0.9)
    assert r.revenue_usd_per_year == pytest.approx(426 * 2.0 * 8760 * 0.9)
    assert r.power_cost_usd_per_year == pytest.approx(8760 * 50.0)
    assert r.capex_usd == pytest.approx(426 * 50_000 + 0.8 * 10e6)
    assert r.payback_years == pytest.approx(r.capex_usd / (r.revenue_usd_per_year - 8760 * 50.0))


def test_hosting_revenue_by_hand():
    r = E.hosting(1.0, 1.25, 130.0, 50.0)
    assert r.revenue_usd_per_year == pytest.approx(130 * 800 * 12)
    assert r.margin_usd_per_year == r.revenue_usd_per_year  # power passed through
    assert "438,000" in r.notes[0]
    own = E.hosting(1.0, 1.25, 130.0, 50.0, pass_through=False)
    assert own.margin_usd_per_year == pytest.approx(130 * 800 * 12 - 8760 * 50)


def test_token_sales_by_hand():
    fleet = E.GpuFleet(1.0, 1.0, 2000.0, power_price_usd_per_mwh=0.0)
    r = E.token_sales(fleet, 1000.0, 0.5, 0.5)
    assert r.revenue_usd_per_year == pytest.approx(500 * 1000 * 3600 * 8760 * 0.5 / 1e6 * 0.5)


@pytest.mark.parametrize(
    "kwargs,word",
    [({"facility_mw": -1}, "facility_mw"), ({"pue": 0.99}, "pue"), ({"j_per_th": 0}, "j_per_th"),
     ({"uptime": 1.5}, "uptime"), ({"pool_fee": -0.1}, "pool_fee"), ({"btc_price_usd": math.nan}, "btc_price_usd")],
)
def test_mining_inputs_refuse_bad_values(kwargs, word):
    base = dict(facility_mw=1.0, pue=1.1, j_per_th=15, power_price_usd_per_mwh=40, btc_price_usd=9e4,
                difficulty=1.4e14, fees_btc_per_block=0.0, subsidy_btc=3.125)
    with pytest.raises(ValueError, match=word):
        E.MiningInputs(**{**base, **kwargs})


def test_compare_uses_states_every_pue_and_the_ratio(ps, market):
    site = ps.default_site()
    cmp = E.compare_uses(site, market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    assert cmp.uses["mining"].pue == 1.05 and cmp.uses["gpuaas"].pue == 1.25
    assert cmp.uses["mining"].it_kw == pytest.approx(1000 / 1.05)
    assert "mining 1.05" in cmp.assumptions[0] and "gpuaas 1.25" in cmp.assumptions[0]
    assert cmp.ai_to_mining_revenue == pytest.approx(
        cmp.uses["gpuaas"].revenue_usd_per_year / cmp.uses["mining"].revenue_usd_per_year)
    assert cmp.ai_to_mining_revenue > 1
    over = E.compare_uses(site, market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"), pue=1.0)
    assert {u.pue for u in over.uses.values()} == {1.0} and "--pue override" in over.assumptions[0]
    assert over.to_dict()["uses"]["hosting"]["revenue_usd_per_year"] == pytest.approx(130 * 1000 * 12)


def test_compare_uses_takes_measured_tokens_per_second(ps, market):
    cmp = E.compare_uses(ps.default_site(), market, ps.find("asic", "s21"), ps.find("gpu", "h100-sxm"),
                         tokens_per_s_per_gpu=500.0, tokens_basis="measured here, scaled")
    assert "measured here, scaled" in cmp.uses["tokens"].notes[-1]
    with pytest.raises(ValueError, match="no GPU-hour price for"):
        E.compare_uses(ps.default_site(), market.model_copy(update={"gpu_hour_usd": {}}), ps.find("asic", "s21"),
                       ps.find("gpu", "h100-sxm"))


def test_sensitivity_grid_shapes_and_break_even_lines(ps, market):
    cmp = E.compare_uses(ps.default_site(), market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    btc, gph = np.linspace(20_000, 200_000, 100), np.linspace(0.5, 8, 100)
    s = E.sensitivity(cmp, btc, gph, np.linspace(0, 0.05, 100), block_height=market.block_height)
    assert s.advantage.shape == (100, 100) and s.mining_margin_by_growth.shape == (100, 100)
    # break-even: margins are zero there; the indifference price equalises the two margins
    mine = cmp.uses["mining"]
    per_usd = mine.revenue_usd_per_year / cmp.inputs["btc_price_usd"]
    assert s.mining_breakeven_btc * per_usd == pytest.approx(mine.power_cost_usd_per_year)
    gpu = cmp.uses["gpuaas"]
    gpu_per_usd = gpu.revenue_usd_per_year / cmp.inputs["gpu_hour_usd"]
    assert s.indifference_gpu_hour * gpu_per_usd - gpu.power_cost_usd_per_year == pytest.approx(s.mining_margin)
    assert np.all(np.diff(s.breakeven_btc_by_growth) > 0)  # faster difficulty growth needs a dearer BTC
    assert s.breakeven_btc_by_growth[0] > s.mining_breakeven_btc  # the 2028 halving is inside 3 years
    assert s.advantage[0, -1] > 0 > s.advantage[-1, 0]


def test_sensitivity_refuses_bad_grids(ps, market):
    cmp = E.compare_uses(ps.default_site(), market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    with pytest.raises(ValueError, match="prices must be > 0"):
        E.sensitivity(cmp, [0.0, 1.0], [1.0], block_height=0)


# --- scaling ------------------------------------------------------------------------------------


def test_measured_point_per_watt_and_j_per_th():
    p = S.measured(80e6, "H/s", Energy(24.0, 12.0, "estimate", 2.0, "x"), "numba-cpu on a CPU")
    assert p.per_watt == pytest.approx(80e6 / 12) and p.power_source == "estimate"
    assert S.j_per_th(80e6, 12.0) == pytest.approx(12.0 / 80e-6)
    with pytest.raises(ValueError, match="watts"):
        S.measured(1.0, "H/s", {"watts": 0.0, "source": "rapl"}, "x")


def test_asic_nameplate_and_gpu_scaled_side_by_side(ps):
    asic = S.asic_nameplate(ps.find("asic", "s21-xp"))
    assert asic.joules_per_unit * 1e12 == pytest.approx(13.5) and asic.basis == "nameplate"
    gb300 = ps.find("gpu", "gb300-nvl72")
    scaled = S.gpu_scaled(120e9, 160e9, gb300, "bf16")  # 75% of peak measured here
    assert scaled.efficiency == pytest.approx(0.75)
    assert scaled.throughput == pytest.approx(0.75 * 2500e12) and scaled.watts == 1875
    rows = S.side_by_side([S.measured(120e9, "FLOP/s", {"watts": 12.0, "source": "rapl"}, "here"), scaled])
    assert rows[1]["per_watt_vs_first"] == pytest.approx(scaled.per_watt / 10e9)
    assert {r["basis"] for r in rows} == {"measured", "scaled by measured efficiency"}


def test_scaling_refuses_impossible_efficiency_and_missing_dtype(ps):
    with pytest.raises(ValueError, match="exceeds the peak"):
        S.efficiency(2.0, 1.0)
    with pytest.raises(ValueError, match="no fp4 peak"):
        S.gpu_scaled(1.0, 2.0, ps.find("gpu", "h100-sxm"), "fp4")
    t = S.tokens_scaled(100.0, 0.1, 3.35, ps.find("gpu", "h100-sxm"))
    assert t.throughput == pytest.approx(3350.0) and t.unit == "tok/s"


# --- published anchors (issue #14) and the cost lines ----------------------------------------------


def test_anchor_hashprice_is_1_7_percent_below_luxor_from_the_fee_input(market):
    hp = E.hashprice_usd_per_ph_day(market.difficulty, market.btc_price_usd, 3.125, market.fees_btc_per_block)
    assert hp == pytest.approx(38.85, abs=0.01)
    assert (hp - 39.53) / 39.53 == pytest.approx(-0.017, abs=0.001)
    # the fee that closes the gap: Luxor's figure implies ~0.07 BTC of fees per block at this difficulty
    fee = 39.53 / hp * (3.125 + market.fees_btc_per_block) - 3.125
    assert E.hashprice_usd_per_ph_day(market.difficulty, market.btc_price_usd, 3.125, fee) == pytest.approx(39.53)


@pytest.mark.parametrize("j_per_th,published", [(12.0, 1.2e6), (15.0, 0.96e6)])
def test_anchor_mining_revenue_per_mw_year_within_1_5_percent(j_per_th, published):
    subsidy, btc = 3.125, 91132.0
    difficulty = 1e15 * 86400 * subsidy * btc / (2**32 * 39.53)  # the difficulty giving $39.53/PH/day
    r = E.mining(E.MiningInputs(1.0, 1.0, j_per_th, 0.0, btc, difficulty, 0.0, subsidy))
    assert abs(r.revenue_usd_per_year - published) / published < 0.015


def test_anchor_hosting_deals_reproduced():
    # Core Scientific - CoreWeave: ~$290M a year for ~200 MW of IT load = ~$121/kW-month (CNBC/ForkLog 2024-06)
    cs = E.hosting(200.0, 1.0, 121.0, 45.0)
    assert cs.revenue_usd_per_year == pytest.approx(290e6, rel=0.01)
    # TeraWulf - Fluidstack: $3.7bn over 10 years for ~250 MW = ~$123/kW-month (ForkLog 2025-08)
    tw = E.hosting(250.0, 1.0, 123.0, 45.0)
    assert tw.revenue_usd_per_year * 10 == pytest.approx(3.7e9, rel=0.01)


def test_anchor_snapshot_npvs_of_the_issue(ps, market):
    cmp = E.compare_uses(ps.default_site(), market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    assert cmp.uses["gpuaas"].npv_usd == pytest.approx(10.4e6, rel=0.01)  # 3 years, capex at t = 0, power only
    assert cmp.uses["hosting"].npv_usd == pytest.approx(-4.8e6, rel=0.02)
    assert cmp.ai_to_mining_revenue == pytest.approx(16.3, abs=0.05)


def test_compare_uses_adds_opex_and_depreciation_from_the_site_plan(ps, market):
    site = ps.default_site()
    cmp = E.compare_uses(site, market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    g = cmp.uses["gpuaas"]
    assert g.opex_usd_per_year == pytest.approx(300_000 + 0.05 * g.revenue_usd_per_year)
    gpus = g.units * 48_000
    assert g.depreciation_usd_per_year == pytest.approx(gpus * 0.9 / 5 + (g.capex_usd - gpus) / 20)
    assert g.ebitda_usd_per_year == pytest.approx(g.margin_usd_per_year - g.opex_usd_per_year)
    d = cmp.uses["mining"].to_dict()
    assert d["operating_profit_usd_per_year"] == pytest.approx(d["ebitda_usd_per_year"] - d["depreciation_usd_per_year"])
    assert d["figures"]["hashprice_usd_per_ph_day"] == pytest.approx(38.85, abs=0.01)
    assert any(a.startswith("costs: opex per facility MW-year") for a in cmp.assumptions)
    bare = E.compare_uses(site.model_copy(update={"plan": None}), market, ps.find("asic", "s21-xp"),
                          ps.find("gpu", "gb200-nvl72"))
    assert bare.uses["gpuaas"].opex_usd_per_year == 0 and any("only power" in a for a in bare.assumptions)


def test_compare_uses_takes_a_pue_per_use(ps, market):
    cmp = E.compare_uses(ps.default_site(), market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"),
                         pue_by_use={"gpuaas": 1.3})
    assert cmp.uses["gpuaas"].pue == 1.3 and cmp.uses["mining"].pue == 1.05


def test_zero_subsidy_and_zero_fees_is_refused_not_divided_by(ps, market):
    with pytest.raises(ValueError, match="mining earns nothing"):
        E.compare_uses(ps.default_site(), market.model_copy(update={"block_height": 64 * 210_000}),
                       ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"), fees=0.0)


def test_submodules_do_not_shadow_the_snapshot_functions():
    """Importing every bench.economics submodule keeps `economics.mining`, `.hosting`, ... the functions."""
    for info in pkgutil.iter_modules(E.__path__):
        importlib.import_module(f"bench.economics.{info.name}")
    for name in E.__all__:
        assert not isinstance(getattr(E, name), types.ModuleType), name
