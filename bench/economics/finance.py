"""Discounting a monthly series: NPV, IRR, payback month, peak funding; debt draws and repayments; tax.

Convention (DESIGN.md, `bench plan`): month m = 1..N is paid at its end, t = m / 12 years, and
NPV = sum(net_m / (1 + rate) ** (m / 12)) with `rate` annual, so anyone can recompute it from the JSON.
"""

from __future__ import annotations

import math

import numpy as np

IRR_BRACKET = (-0.99, 100.0)  # annual rates searched for an IRR



def root(f, lo: float, hi: float, **tolerances) -> float:
    """The root of f in [lo, hi] (f(lo) and f(hi) of opposite signs), by Brent's method. scipy is imported
    here, on first use: every CLI verb builds its parser from this package, and most never solve for a root."""
    from scipy.optimize import brentq

    return float(brentq(f, lo, hi, **tolerances))


def discount_factors(months, rate: float) -> np.ndarray:
    """(1 + rate) ** -(month / 12) for each month."""
    if not (math.isfinite(rate) and rate > -1):
        raise ValueError(f"discount rate must be > -1 per year (got {rate!r})")
    return (1.0 + rate) ** (-np.asarray(months, dtype=float) / 12.0)


def npv(net, months, rate: float) -> float:
    """Net present value at `rate` per year of `net` paid at the end of each of `months`."""
    return float(np.dot(np.asarray(net, dtype=float), discount_factors(months, rate)))


def irr(net, months) -> float | None:
    """The annual rate at which the NPV is zero; None when nothing is invested first (the first flow is
    positive), the flows never change sign, or no root lies in IRR_BRACKET."""
    net = np.asarray(net, dtype=float)
    nonzero = net[np.abs(net) > 1e-9 * max(1.0, float(np.abs(net).max(initial=0.0)))]
    if not (np.any(net < 0) and np.any(net > 0)) or nonzero[0] > 0:
        return None  # nothing invested first: no return to speak of
    lo, hi = IRR_BRACKET
    grid = np.concatenate([np.linspace(lo, 0.0, 12, endpoint=False), np.geomspace(1e-4, hi, 40)])
    values = np.array([npv(net, months, r) for r in grid])
    sign_change = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    if sign_change.size == 0:
        return None
    # the root nearest 0 %: the economically meaningful one when a series changes sign more than once
    i = sign_change[np.argmin(np.abs(grid[sign_change]))]
    return root(lambda r: npv(net, months, r), grid[i], grid[i + 1], xtol=1e-10, rtol=1e-12)


def payback_month(net, months) -> int | None:
    """The first month whose cumulative net is >= 0 (the start when nothing is ever owed); None if never."""
    cum = np.cumsum(np.asarray(net, dtype=float))
    hit = np.nonzero(cum >= 0)[0]
    return int(np.asarray(months)[hit[0]]) if hit.size else None


def peak_funding(net) -> float:
    """The deepest cumulative shortfall: the money that must be found before the cash comes back."""
    cum = np.cumsum(np.asarray(net, dtype=float))
    return float(max(0.0, -cum.min())) if cum.size else 0.0


def straight_line(spend, life_months: int, residual_fraction: float) -> np.ndarray:
    """Monthly depreciation of spends (array per month) written down to `residual_fraction` over their life."""
    spend = np.asarray(spend, dtype=float)
    kernel = np.full(max(1, int(life_months)), (1.0 - residual_fraction) / max(1, int(life_months)))
    return np.convolve(spend, kernel)[: spend.size]


def book_value_at_end(spend, life_months: int, residual_fraction: float) -> float:
    """What the assets bought by `spend` are worth after the last month: straight-line to the residual."""
    spend = np.asarray(spend, dtype=float)
    n = spend.size
    age = n - np.arange(n)  # months in use at the end, for a spend in month index i
    written = np.minimum(age / max(1, life_months), 1.0) * (1.0 - residual_fraction)
    return float(np.dot(spend, 1.0 - written))


def debt(capex, *, share: float, rate_per_year: float, term_months: int, cap_usd: float | None = None):
    """Debt drawn as `share` of each month's positive capex (up to `cap_usd` in all), repaid in equal
    principal instalments over `term_months` after each draw, interest on the balance, anything left
    repaid in the last month. Returns (draws, interest, principal) per month."""
    capex = np.clip(np.asarray(capex, dtype=float), 0.0, None)
    draws = capex * share
    if cap_usd is not None:
        cum = np.minimum(np.cumsum(draws), cap_usd)
        draws = np.diff(cum, prepend=0.0)
    n = capex.size
    term = max(1, int(term_months))
    # a draw in month i is repaid d/term a month in months i+1 .. i+term
    principal = np.convolve(np.concatenate([[0.0], draws[:-1]]), np.full(term, 1.0 / term))[:n]
    balance_end = np.cumsum(draws - principal)
    balance_start = np.concatenate([[0.0], balance_end[:-1]])
    interest = balance_start * rate_per_year / 12.0
    if n:
        principal[-1] += balance_end[-1]  # the balloon: the horizon ends, the debt is settled
    return draws, interest, principal


def tax(taxable, rate: float) -> np.ndarray:
    """Corporate tax per month at `rate` on taxable income, losses carried forward (no refunds)."""
    out = np.zeros(len(taxable))
    if rate <= 0:
        return out
    carried = 0.0
    for i, income in enumerate(np.asarray(taxable, dtype=float)):
        income += carried
        if income > 0:
            out[i], carried = income * rate, 0.0
        else:
            carried = income
    return out
