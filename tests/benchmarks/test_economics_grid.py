"""Benchmark: the 100 x 100 sensitivity grids (target: well under 1 s; measured, never asserted)."""

import numpy as np

from bench import economics as E
from bench import profiles as P


def test_sensitivity_100x100(benchmark):
    ps = P.load([P.BUILTIN_DIR])
    site, market = ps.default_site(), ps.latest_market()
    cmp = E.compare_uses(site, market, ps.find("asic", "s21-xp"), ps.find("gpu", "gb200-nvl72"))
    btc, gph, growth = np.linspace(20e3, 200e3, 100), np.linspace(0.5, 8.0, 100), np.linspace(0.0, 0.05, 100)
    result = benchmark(E.sensitivity, cmp, btc, gph, growth, block_height=market.block_height)
    assert result.advantage.shape == (100, 100) and result.mining_margin_by_growth.shape == (100, 100)
