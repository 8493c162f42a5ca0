"""The money model, as pure functions of explicit inputs (no files read here).

- `snapshot`: one year per MW of facility power for each use (mining, GPUaaS, hosting, token sales) and the
  what-if grids of `bench economics`;
- the conversion decision over time (`bench plan`): `inputs` (every figure, flat, with plausible ranges),
  `finance` (NPV, IRR, payback, debt, tax), `bitcoin` (halvings, difficulty and BTC price paths), `cashflow`
  (monthly lines -> equity cash flows), `strategies` (keep mining, GPUaaS, hosting, phased, split, tokens),
  `plan` (ranking, verdict, break-evens: `build_plan`), `scenarios` (low/base/high, tornado), `claims` (a
  company's published figures against the model), `measured` (a run's verified decode scaled to a GPU).

`from bench import economics as econ; econ.compare_uses(...)` keeps working: the snapshot's public names
are re-exported here.
"""

from bench.economics.snapshot import (
    BLOCKS_PER_DAY,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    HALVING_INTERVAL,
    HOURS_PER_YEAR,
    INITIAL_SUBSIDY_SAT,
    USES,
    Comparison,
    GpuFleet,
    MiningInputs,
    MiningProjection,
    MiningResult,
    Sensitivity,
    UseResult,
    compare_uses,
    gpuaas,
    hashcost_usd_per_ph_day,
    hashprice_btc_per_ph_day,
    hashprice_usd_per_ph_day,
    hosting,
    it_mw,
    mining,
    mining_projection,
    mining_use,
    power_cost_usd_per_year,
    sensitivity,
    subsidy_btc,
    token_sales,
)

__all__ = [
    "BLOCKS_PER_DAY", "DAYS_PER_MONTH", "DAYS_PER_YEAR", "HALVING_INTERVAL", "HOURS_PER_YEAR",
    "INITIAL_SUBSIDY_SAT", "USES", "Comparison", "GpuFleet", "MiningInputs", "MiningProjection", "MiningResult",
    "Sensitivity", "UseResult", "compare_uses", "gpuaas", "hashcost_usd_per_ph_day", "hashprice_btc_per_ph_day",
    "hashprice_usd_per_ph_day", "hosting", "it_mw", "mining", "mining_projection", "mining_use",
    "power_cost_usd_per_year", "sensitivity", "subsidy_btc", "token_sales",
]
