"""Monthly cash flows per strategy (bench.economics: inputs, mining paths, strategies, cashflow) by hand."""

import numpy as np
import pytest

from bench import profiles as P
from bench.economics import bitcoin, cashflow, finance, inputs, strategies
from bench.economics.snapshot import subsidy_btc


@pytest.fixture(scope="module")
def ps():
    return P.load([P.BUILTIN_DIR])


@pytest.fixture(scope="module")
def base(ps):
    site, market = ps.default_site(), ps.latest_market()
    return inputs.from_profiles(site, market, ps.find("asic", site.default_asic), ps.find("gpu", site.default_gpu),
                                refresh_asic=ps.find("asic", site.plan.refresh_asic))


def test_halving_month_from_block_height():
    h = 931_968  # the 2026-01-12 snapshot; the next halving is block 1,050,000
    m = bitcoin.halving_month(h)
    assert bitcoin.next_halving_height(h) == 1_050_000
    assert m == 28  # 118,032 blocks at 144 a day = 26.9 months; month 28 is the first whose middle is past it
    heights = bitcoin.heights(h, [m - 1, m])
    assert heights[0] < 1_050_000 <= heights[1]
    assert list(subsidy_btc(heights)) == [3.125, 1.5625]
    assert bitcoin.halving_month(1_049_999) == 1 and bitcoin.halving_month(840_000) > 47


def test_difficulty_and_btc_price_paths():
    months = np.arange(1, 25)
    d = bitcoin.difficulty_path(100e12, 0.02, months)
    assert d[0] == 100e12 and d[12] == pytest.approx(100e12 * 1.02**12)
    p = bitcoin.btc_price_path(90_000, months, drift_per_year=0.1)
    assert p[0] == 90_000 and p[12] == pytest.approx(99_000)
    own = bitcoin.btc_price_path(90_000, months, monthly=np.array([50_000.0, 60_000.0]))
    assert own[0] == 50_000 and np.all(own[1:] == 60_000)  # held at the last value


def test_btc_price_csv(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("month,price\n1,80000\n2,85000\n")
    assert list(bitcoin.read_price_csv(f)) == [80_000, 85_000]
    f.write_text("1,80000\n2,0.5\n")
    with pytest.raises(ValueError, match="row 2"):
        bitcoin.read_price_csv(f)


def test_hosting_lease_by_hand_3pct_escalator_12_month_build(base):
    x = base.replace(hosting_build_months=12, lease_escalator=0.03, hosting_usd_per_kw_month=120.0, pue_hosting=1.25,
                     ai_capex_usd_per_mw_it=10e6, tenant_fitout_share=0.25, years=4, tax_rate=0.0)
    b = strategies.hosting_block(x, start=1)
    it_kw = 800.0
    hall = 10e6 * 0.8 * 0.75  # the operator pays 75% of the hall
    assert b.capex[:12] == pytest.approx(np.full(12, hall / 12)) and b.capex[12:].sum() == 0
    assert b.revenue[:12].sum() == 0
    assert b.revenue[12:24] == pytest.approx(np.full(12, 120 * it_kw))
    assert b.revenue[24:36] == pytest.approx(np.full(12, 120 * it_kw * 1.03))
    assert b.revenue[36:48] == pytest.approx(np.full(12, 120 * it_kw * 1.03**2))
    assert b.power.sum() == 0  # NNN: the tenant pays the power
    assert b.opex[12] == pytest.approx(x.opex_usd_per_mw_year["hosting"] / 12)
    life = 20 * 12
    book = sum(hall / 12 * (1 - min((48 - i) / life, 1)) for i in range(12))
    assert b.disposals[-1] == pytest.approx(book)  # the hall at its book value at the horizon


def test_shut_down_months_have_zero_power_and_zero_revenue(base):
    x = base.replace(difficulty_growth_monthly=0.08, curtailment_usd_per_mwh=50.0, years=5)
    ops, events, off = strategies.mining_block(x)
    assert off.any() and not off[0]
    assert np.all(ops.revenue[off] == 0) and np.all(ops.power[off] == 0)
    assert np.all(ops.power[~off] > 0)
    assert np.all(ops.opex[off] == 0)  # mothballed: staff and upkeep only while the fleet runs
    assert np.all(ops.opex[~off] == pytest.approx(x.opex_usd_per_mw_year["mining"] / 12))


def test_mining_revenue_month_one_by_hand(base):
    x = base.replace(curtailment_usd_per_mwh=0.0)
    ops, _, _ = strategies.mining_block(x)
    ph = 1e6 / x.pue_mining / x.asic_j_per_th / 1e3
    btc = 1e15 * 86400 / (x.difficulty * 2**32) * (3.125 + x.fees_btc_per_block) * 365.25 / 12
    assert ops.revenue[0] == pytest.approx(btc * ph * x.uptime * (1 - x.pool_fee) * x.btc_price_usd)
    assert ops.power[0] == pytest.approx(365.25 / 12 * 24 * x.uptime * x.power_usd_per_mwh)


def test_gpu_block_build_lead_refresh_and_decay(base):
    x = base.replace(build_months=6, gpu_lead_months=2, gpu_life_years=2, years=5, gpu_hour_decay_per_year=0.2)
    b = strategies._gpu_block(x, 1, "gpuaas")
    gpus = 0.8e6 / x.gpu_system_w
    assert b.revenue[:6].sum() == 0 and b.revenue[6] == pytest.approx(gpus * 365.25 / 12 * 24 * x.gpu_utilization
                                                                      * x.gpu_hour_usd)
    assert b.revenue[18] == pytest.approx(b.revenue[6] * 0.8)  # a year into the generation, 20% cheaper
    assert b.revenue[30] == pytest.approx(b.revenue[6])  # a new generation at today's price
    gpu_cost = gpus * x.gpu_price_usd
    assert b.capex[4] == pytest.approx(x.ai_capex_usd_per_mw_it * 0.8 / 6 + gpu_cost)  # paid 2 months early
    assert b.capex[30] == pytest.approx(gpu_cost) and b.disposals[30] == pytest.approx(gpu_cost * x.gpu_residual)


def test_settle_net_is_the_sum_of_the_lines_and_debt_is_repaid(base):
    x = base.replace(debt_share=0.5, debt_rate=0.08, debt_term_years=3, tax_rate=0.21)
    s = strategies.evaluate("gpuaas", x)
    c = s.cash
    assert c.net == pytest.approx(c.revenue - c.power - c.opex - c.capex + c.financing - c.tax)
    draws = 0.5 * s.ops.capex
    assert c.financing[0] == pytest.approx(draws[0])  # month 1: drawn, nothing repaid yet
    assert np.all(c.tax >= 0)
    rows = c.rows()
    assert list(rows[0]) == list(cashflow.COLUMNS) and len(rows) == x.years * 12
    assert c.yearly()[0]["net_usd"] == pytest.approx(c.net[:12].sum())


def test_phased_converts_block_by_block_and_split_is_a_mix(base):
    phased, _ = strategies.blocks_for("phased", base.replace(phased_mw_per_year=7.0))
    assert phased == [(7.0, 1), (7.0, 13), (4.0, 25)]
    x = base.replace(split_mining_share=1.0)
    assert finance.npv(strategies.evaluate("split", x).cash.net, x.months, x.discount_rate) == pytest.approx(
        finance.npv(strategies.evaluate("mining", x).cash.net, x.months, x.discount_rate))


def test_inputs_refuse_implausible_values(base):
    with pytest.raises(ValueError, match="power_usd_per_mwh must be 5 to 1000 \\$/MWh"):
        base.replace(power_usd_per_mwh=0.045)
    with pytest.raises(ValueError, match="difficulty_growth_monthly"):
        base.replace(difficulty_growth_monthly=0.99)
    with pytest.raises(ValueError, match="mining earns nothing"):
        base.replace(block_height=64 * 210_000, fees_btc_per_block=0.0)
    assert "looks like $/kWh" in inputs.implausible(0.045, 5, 1000, "$/MWh")
    assert "is it in T" in inputs.implausible(148.26, 1e12, 1e17, "full difficulty")
    assert inputs.implausible(45.0, 5, 1000, "$/MWh") is None


def test_the_fleet_is_refreshed_only_when_the_new_one_pays_for_itself(base):
    worn = dict(asic_j_per_th=30.0, refresh_j_per_th=13.5, asic_age_years=4.0, asic_life_years=4.0, years=4)
    pays = base.replace(**worn, difficulty_growth_monthly=0.0, btc_price_usd=150_000.0)
    ops, events, _ = strategies.mining_block(pays)
    assert ops.capex[0] == pytest.approx(1e6 / pays.pue_mining / 13.5 * pays.asic_usd_per_th)  # month 1, per MW
    assert "fleet refreshed in month 1" in events[0][1]
    hopeless = base.replace(**worn, difficulty_growth_monthly=0.15, btc_price_usd=40_000.0)
    ops, events, _ = strategies.mining_block(hopeless)
    assert ops.capex.sum() == 0 and "no refresh in month 1" in events[0][1]
