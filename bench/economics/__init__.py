"""The money model, as pure functions of explicit inputs (no files read here).

- `snapshot`: one year per MW of facility power for each use (mining, GPUaaS, hosting, token sales) and the
  what-if grids of `bench economics`;
- `finance`, `mining`, `cashflow`, `strategies`, `plan`, `scenarios`, `measured`: the conversion decision
  over time (`bench plan`): monthly cash flows per strategy, NPV/IRR/payback, ranking and verdict.

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
