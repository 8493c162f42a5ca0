"""bench.economics.finance: NPV, IRR, payback, peak funding, debt and tax, by hand and as properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.economics import finance as F


def test_npv_by_hand_months_paid_at_their_end():
    net, months = [-100.0, 60.0, 60.0], [1, 2, 3]
    expected = sum(v / 1.1 ** (m / 12) for v, m in zip(net, months))
    assert F.npv(net, months, 0.10) == pytest.approx(expected)
    assert F.npv(net, months, 0.0) == pytest.approx(20.0)


def test_irr_gives_npv_zero_and_matches_a_known_rate():
    months = np.arange(1, 25)
    net = np.full(24, 10.0)
    net[0] = -150.0
    r = F.irr(net, months)
    assert r is not None and F.npv(net, months, r) == pytest.approx(0.0, abs=1e-6)
    # one flow out, one back a year later at +20%: the IRR is 20%/yr
    assert F.irr([-100.0] + [0.0] * 11 + [120.0], np.arange(1, 14)) == pytest.approx(0.2, rel=1e-6)


def test_irr_is_none_without_an_investment_first():
    months = np.arange(1, 5)
    assert F.irr([10.0, 10.0, -1.0, 5.0], months) is None  # money comes first: nothing was at risk
    assert F.irr([-10.0, -10.0, -1.0, -5.0], months) is None  # never paid back
    assert F.irr([5.0, 5.0, 5.0, 5.0], months) is None


def test_payback_month_is_the_first_month_cumulative_net_is_not_negative():
    months = np.arange(1, 7)
    assert F.payback_month([-10, 3, 3, 3, 3, 3], months) == 5  # -10, -7, -4, -1, 2
    assert F.payback_month([-10, 5, 5, 1, 1, 1], months) == 3  # cumulative exactly 0 counts
    assert F.payback_month([-10, 1, 1, 1, 1, 1], months) is None
    assert F.payback_month([5, -1, 1, 1, 1, 1], months) == 1


def test_peak_funding_is_the_deepest_cumulative_shortfall():
    assert F.peak_funding([-10, -5, 8, -4, 20]) == 15
    assert F.peak_funding([1, 2, 3]) == 0


def test_straight_line_depreciation_and_book_value():
    spend = np.zeros(24)
    spend[0] = 1200.0
    dep = F.straight_line(spend, 12, 0.1)
    assert dep[:12] == pytest.approx(np.full(12, 90.0)) and dep[12:].sum() == 0
    assert F.book_value_at_end(spend, 12, 0.1) == pytest.approx(120.0)  # written down to its residual
    assert F.book_value_at_end(spend, 48, 0.0) == pytest.approx(600.0)  # half its life used


def test_debt_draws_repayments_interest_and_the_cap():
    capex = np.zeros(12)
    capex[0] = 1000.0
    draws, interest, principal = F.debt(capex, share=0.6, rate_per_year=0.12, term_months=4)
    assert draws[0] == pytest.approx(600.0) and draws[1:].sum() == 0
    assert principal[1:5] == pytest.approx(np.full(4, 150.0)) and principal.sum() == pytest.approx(600.0)
    assert interest[1] == pytest.approx(600 * 0.01) and interest[2] == pytest.approx(450 * 0.01)
    capped, _, repaid = F.debt(np.full(12, 100.0), share=1.0, rate_per_year=0.0, term_months=120, cap_usd=250.0)
    assert capped.sum() == pytest.approx(250.0) and repaid.sum() == pytest.approx(250.0)  # balloon at the end


def test_tax_carries_losses_forward():
    assert list(F.tax([-100.0, 60.0, 60.0], 0.25)) == pytest.approx([0.0, 0.0, 5.0])
    assert F.tax([100.0], 0.0).sum() == 0


def test_discount_rate_must_exceed_minus_one():
    with pytest.raises(ValueError, match="discount rate"):
        F.npv([1.0], [1], -1.0)


flows = st.lists(st.floats(min_value=-1e8, max_value=1e8, allow_nan=False), min_size=2, max_size=60)


@settings(max_examples=200, deadline=None)
@given(first=st.floats(min_value=1e3, max_value=1e9), rest=flows, rate=st.floats(min_value=0.0, max_value=0.5))
def test_identities_hold_for_any_series(first, rest, rate):
    net = np.array([-first, *rest])
    months = np.arange(1, net.size + 1)
    value = F.npv(net, months, rate)
    assert np.isfinite(value)
    r = F.irr(net, months)
    if r is not None:
        assert abs(F.npv(net, months, r)) <= 1e-6 * np.abs(net).sum()
    pay = F.payback_month(net, months)
    cum = np.cumsum(net)
    if pay is None:
        assert np.all(cum < 0)
    else:
        assert cum[pay - 1] >= 0 and np.all(cum[: pay - 1] < 0)
    assert F.peak_funding(net) == pytest.approx(max(0.0, -cum.min()))
