"""One year per MW of facility power: revenue, cost and margin of mining vs GPUaaS vs hosting vs token sales.

Pure functions of explicit inputs (no files, no profiles loaded here). The convention everywhere:
facility power is what the utility meters; IT power = facility MW / PUE is what the machines get; power
is paid on facility MWh. Money is US dollars; years are 365 days (8,760 h).

Mining: hashprice ($/PH/day) = 1e15 * 86400 / (difficulty * 2**32) * (subsidy + fees) * BTC price;
hashcost ($/PH/day) = J/TH * $/MWh * 0.024. `compare_uses` puts the four uses of one MW side by side
from profile objects, stating every PUE and assumption it applied.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

HOURS_PER_YEAR = 8760.0
DAYS_PER_YEAR = 365.0
DAYS_PER_MONTH = 365.25 / 12
BLOCKS_PER_DAY = 144.0
HALVING_INTERVAL = 210_000
INITIAL_SUBSIDY_SAT = 50 * 100_000_000
USES = ("mining", "gpuaas", "hosting", "tokens")


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'} (got {value!r})")
    return float(value)


def _fraction(name: str, value: float, *, allow_zero: bool = True) -> float:
    if not (math.isfinite(value) and (0 <= value <= 1) and (allow_zero or value > 0)):
        raise ValueError(f"{name} must be a fraction in {'[0, 1]' if allow_zero else '(0, 1]'} (got {value!r})")
    return float(value)


# --- Bitcoin ------------------------------------------------------------------------------------


def subsidy_btc(height):
    """Block subsidy at `height` (scalar or array): 50 BTC halved every 210,000 blocks, in whole satoshis."""
    h = np.asarray(height)
    if np.any(h < 0):
        raise ValueError(f"block height must be >= 0 (got {height!r})")
    halvings = h // HALVING_INTERVAL
    sat = np.where(halvings >= 64, 0, np.right_shift(INITIAL_SUBSIDY_SAT, np.minimum(halvings, 63)))
    btc = sat / 1e8
    return float(btc) if np.ndim(btc) == 0 else btc


def hashprice_btc_per_ph_day(difficulty, subsidy: float, fees_btc_per_block: float):
    """Expected BTC per PH/s per day: blocks a PH/s finds per day x reward per block."""
    return 1e15 * 86400.0 / (np.asarray(difficulty, dtype=float) * 2.0**32) * (subsidy + fees_btc_per_block)


def hashprice_usd_per_ph_day(difficulty, btc_price_usd, subsidy: float, fees_btc_per_block: float):
    """Hashprice in $/PH/day (Luxor's definition, before pool fees)."""
    return hashprice_btc_per_ph_day(difficulty, subsidy, fees_btc_per_block) * btc_price_usd


def hashcost_usd_per_ph_day(j_per_th: float, usd_per_mwh: float) -> float:
    """Power cost of one PH/s for a day: J/TH x $/MWh x 0.024 (= 1000 TH x 24 h / 1e6 Wh per MWh)."""
    return _positive("j_per_th", j_per_th) * _positive("usd_per_mwh", usd_per_mwh, allow_zero=True) * 0.024


def it_mw(facility_mw: float, pue: float) -> float:
    """IT power a facility can feed: facility MW / PUE (PUE >= 1)."""
    if not (math.isfinite(pue) and pue >= 1):
        raise ValueError(f"pue must be >= 1 (got {pue!r})")
    return _positive("facility_mw", facility_mw) / pue


def power_cost_usd_per_year(facility_mw: float, usd_per_mwh: float, uptime: float = 1.0) -> float:
    return facility_mw * HOURS_PER_YEAR * uptime * usd_per_mwh


def _payback_years(capex: float, margin_per_year: float) -> float | None:
    return capex / margin_per_year if margin_per_year > 0 else None


def _annuity_npv(capex: float, margin_per_year: float, rate: float, years: float) -> float:
    """-capex + a constant yearly margin over `years`, paid monthly, discounted at `rate` per year."""
    months = np.arange(1, int(round(years * 12)) + 1)
    return float(-capex + np.sum(margin_per_year / 12 / (1 + rate) ** (months / 12)))


# --- mining -------------------------------------------------------------------------------------


@dataclass
class MiningInputs:
    facility_mw: float
    pue: float
    j_per_th: float  # fleet efficiency at the wall
    power_price_usd_per_mwh: float
    btc_price_usd: float
    difficulty: float
    fees_btc_per_block: float
    subsidy_btc: float
    pool_fee: float = 0.0
    uptime: float = 1.0  # fraction of hours powered (curtailment, outages)
    usd_per_th: float = 0.0  # ASIC capex
    infra_capex_usd_per_mw: float = 0.0  # facility capex per MW of facility power
    horizon_years: float = 3.0  # depreciation for the all-in cost per BTC, NPV horizon

    def __post_init__(self):
        for name in ("facility_mw", "j_per_th", "btc_price_usd", "difficulty"):
            _positive(name, getattr(self, name))
        for name in ("power_price_usd_per_mwh", "fees_btc_per_block", "subsidy_btc", "usd_per_th",
                     "infra_capex_usd_per_mw"):
            _positive(name, getattr(self, name), allow_zero=True)
        _fraction("pool_fee", self.pool_fee)
        _fraction("uptime", self.uptime, allow_zero=False)
        _positive("horizon_years", self.horizon_years)
        it_mw(self.facility_mw, self.pue)


@dataclass
class MiningResult:
    it_mw: float
    hashrate_ph: float  # PH/s installed
    hashprice_usd_per_ph_day: float
    hashcost_usd_per_ph_day: float  # at the facility meter: includes the PUE overhead
    btc_per_day: float  # after uptime and pool fee
    revenue_usd_per_day: float
    power_cost_usd_per_day: float
    margin_usd_per_day: float
    revenue_usd_per_year: float
    power_cost_usd_per_year: float
    margin_usd_per_year: float
    cash_cost_per_btc_usd: float  # power only
    all_in_cost_per_btc_usd: float  # power + capex written off over the horizon
    capex_usd: float
    payback_years: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def mining(x: MiningInputs) -> MiningResult:
    """One year of mining at today's difficulty and price (see `mining_projection` for growth)."""
    it = it_mw(x.facility_mw, x.pue)
    ph = it * 1e6 / x.j_per_th / 1e3  # W / (J/TH) = TH/s; /1e3 = PH/s
    hp_btc = float(hashprice_btc_per_ph_day(x.difficulty, x.subsidy_btc, x.fees_btc_per_block))
    btc_day = hp_btc * ph * x.uptime * (1 - x.pool_fee)
    revenue = btc_day * x.btc_price_usd
    power = power_cost_usd_per_year(x.facility_mw, x.power_price_usd_per_mwh, x.uptime) / DAYS_PER_YEAR
    capex = ph * 1e3 * x.usd_per_th + x.infra_capex_usd_per_mw * x.facility_mw
    depreciation = capex / (x.horizon_years * DAYS_PER_YEAR)
    return MiningResult(
        it_mw=it,
        hashrate_ph=ph,
        hashprice_usd_per_ph_day=hp_btc * x.btc_price_usd,
        hashcost_usd_per_ph_day=hashcost_usd_per_ph_day(x.j_per_th, x.power_price_usd_per_mwh) * x.pue,
        btc_per_day=btc_day,
        revenue_usd_per_day=revenue,
        power_cost_usd_per_day=power,
        margin_usd_per_day=revenue - power,
        revenue_usd_per_year=revenue * DAYS_PER_YEAR,
        power_cost_usd_per_year=power * DAYS_PER_YEAR,
        margin_usd_per_year=(revenue - power) * DAYS_PER_YEAR,
        cash_cost_per_btc_usd=power / btc_day if btc_day > 0 else math.inf,
        all_in_cost_per_btc_usd=(power + depreciation) / btc_day if btc_day > 0 else math.inf,
        capex_usd=capex,
        payback_years=_payback_years(capex, (revenue - power) * DAYS_PER_YEAR),
    )


@dataclass
class MiningProjection:
    months: np.ndarray  # 1..N
    difficulty: np.ndarray
    subsidy_btc: np.ndarray
    margin_usd: np.ndarray  # per month
    npv_usd: float
    payback_month: int | None  # first month whose cumulative margin covers the capex

    def to_dict(self) -> dict:
        return {"months": int(self.months[-1]), "npv_usd": self.npv_usd, "payback_month": self.payback_month,
                "difficulty_end": float(self.difficulty[-1]), "subsidy_end_btc": float(self.subsidy_btc[-1])}


def mining_projection(x: MiningInputs, *, block_height: int, difficulty_growth_monthly: float,
                      discount_rate: float, years: float | None = None) -> MiningProjection:
    """Month by month: difficulty grows by `difficulty_growth_monthly`, the subsidy halves with block
    height (144 blocks/day), BTC price and power price stay as given; NPV at `discount_rate` per year."""
    if not -0.5 < difficulty_growth_monthly < 1:
        raise ValueError(f"difficulty_growth_monthly must be in (-0.5, 1) (got {difficulty_growth_monthly!r})")
    base = mining(x)
    months = np.arange(1, int(round((years or x.horizon_years) * 12)) + 1)
    difficulty = x.difficulty * (1 + difficulty_growth_monthly) ** (months - 1)
    heights = block_height + ((months - 0.5) * DAYS_PER_MONTH * BLOCKS_PER_DAY).astype(np.int64)
    subsidy = subsidy_btc(heights)
    revenue = (hashprice_btc_per_ph_day(difficulty, subsidy, x.fees_btc_per_block) * x.btc_price_usd
               * base.hashrate_ph * x.uptime * (1 - x.pool_fee) * DAYS_PER_MONTH)
    margin = revenue - base.power_cost_usd_per_day * DAYS_PER_MONTH
    npv = float(-base.capex_usd + np.sum(margin / (1 + discount_rate) ** (months / 12)))
    covered = np.nonzero(np.cumsum(margin) >= base.capex_usd)[0]
    return MiningProjection(months, difficulty, subsidy, margin, npv, int(months[covered[0]]) if covered.size else None)


# --- GPUs: rented by the hour, or selling tokens ------------------------------------------------


@dataclass
class GpuFleet:
    facility_mw: float
    pue: float
    system_w_per_gpu: float
    price_per_gpu_usd: float = 0.0  # capex per GPU incl. its share of the server and rack
    facility_capex_usd_per_mw_it: float = 0.0
    power_price_usd_per_mwh: float = 0.0
    load_factor: float = 1.0  # average draw / system power (1.0: always at the nameplate, conservative)

    def __post_init__(self):
        it_mw(self.facility_mw, self.pue)
        _positive("system_w_per_gpu", self.system_w_per_gpu)
        _positive("price_per_gpu_usd", self.price_per_gpu_usd, allow_zero=True)
        _positive("facility_capex_usd_per_mw_it", self.facility_capex_usd_per_mw_it, allow_zero=True)
        _positive("power_price_usd_per_mwh", self.power_price_usd_per_mwh, allow_zero=True)
        _fraction("load_factor", self.load_factor, allow_zero=False)

    @property
    def it_mw(self) -> float:
        return it_mw(self.facility_mw, self.pue)

    @property
    def gpus(self) -> int:
        """Whole GPUs that fit in the IT power."""
        return int(self.it_mw * 1e6 // self.system_w_per_gpu)

    @property
    def capex_usd(self) -> float:
        return self.gpus * self.price_per_gpu_usd + self.it_mw * self.facility_capex_usd_per_mw_it

    @property
    def power_cost_usd_per_year(self) -> float:
        return power_cost_usd_per_year(self.facility_mw, self.power_price_usd_per_mwh) * self.load_factor


@dataclass
class UseResult:
    """One use of the power, per year, in the same shape for all four uses."""

    use: str
    pue: float
    it_kw: float
    units: float  # ASICs, GPUs, or kW leased
    unit_label: str
    output: float  # PH/s, GPU-hours sold per year, kW leased, tokens per year
    output_label: str
    revenue_usd_per_year: float
    power_cost_usd_per_year: float
    margin_usd_per_year: float
    capex_usd: float
    payback_years: float | None
    npv_usd: float | None
    notes: list[str] = field(default_factory=list)
    opex_usd_per_year: float = 0.0  # staff, maintenance, network, insurance, software (site's [plan])
    depreciation_usd_per_year: float = 0.0  # capex over each asset's life, down to its residual
    figures: dict = field(default_factory=dict)  # every other number the notes print, as numbers

    @property
    def ebitda_usd_per_year(self) -> float:
        """Revenue - power - opex."""
        return self.margin_usd_per_year - self.opex_usd_per_year

    @property
    def operating_profit_usd_per_year(self) -> float:
        """EBITDA - depreciation."""
        return self.ebitda_usd_per_year - self.depreciation_usd_per_year

    def to_dict(self) -> dict:
        return {**asdict(self), "ebitda_usd_per_year": self.ebitda_usd_per_year,
                "operating_profit_usd_per_year": self.operating_profit_usd_per_year}


def gpuaas(fleet: GpuFleet, usd_per_gpu_hour: float, utilization: float, *, discount_rate: float = 0.1,
           horizon_years: float = 3.0) -> UseResult:
    """GPUs rented out: revenue = GPUs x $/GPU-hour x 8,760 h x utilisation (AI takes firm power)."""
    _positive("usd_per_gpu_hour", usd_per_gpu_hour)
    _fraction("utilization", utilization, allow_zero=False)
    hours = fleet.gpus * HOURS_PER_YEAR * utilization
    revenue = hours * usd_per_gpu_hour
    margin = revenue - fleet.power_cost_usd_per_year
    return UseResult("gpuaas", fleet.pue, fleet.it_mw * 1e3, fleet.gpus, "GPUs", hours, "GPU-hours sold/yr",
                     revenue, fleet.power_cost_usd_per_year, margin, fleet.capex_usd,
                     _payback_years(fleet.capex_usd, margin), _annuity_npv(fleet.capex_usd, margin, discount_rate,
                                                                           horizon_years))


def token_sales(fleet: GpuFleet, tokens_per_s_per_gpu: float, usd_per_m_tokens: float, utilization: float, *,
                discount_rate: float = 0.1, horizon_years: float = 3.0) -> UseResult:
    """Tokens sold: GPUs x tokens/s x seconds/year x utilisation x $/M tokens."""
    _positive("tokens_per_s_per_gpu", tokens_per_s_per_gpu)
    _positive("usd_per_m_tokens", usd_per_m_tokens)
    _fraction("utilization", utilization, allow_zero=False)
    tokens = fleet.gpus * tokens_per_s_per_gpu * 3600 * HOURS_PER_YEAR * utilization
    revenue = tokens / 1e6 * usd_per_m_tokens
    margin = revenue - fleet.power_cost_usd_per_year
    return UseResult("tokens", fleet.pue, fleet.it_mw * 1e3, fleet.gpus, "GPUs", tokens, "tokens/yr", revenue,
                     fleet.power_cost_usd_per_year, margin, fleet.capex_usd, _payback_years(fleet.capex_usd, margin),
                     _annuity_npv(fleet.capex_usd, margin, discount_rate, horizon_years))


def hosting(facility_mw: float, pue: float, usd_per_kw_month: float, power_price_usd_per_mwh: float, *,
            pass_through: bool = True, facility_capex_usd_per_mw_it: float = 0.0, discount_rate: float = 0.1,
            horizon_years: float = 3.0) -> UseResult:
    """Colocation: rent = $/kW-month x IT kW x 12. With `pass_through` the tenant also pays the power at
    cost, so the operator's margin is the rent; the pass-through is shown in the notes, not as revenue."""
    _positive("usd_per_kw_month", usd_per_kw_month)
    it_kw = it_mw(facility_mw, pue) * 1e3
    rent = usd_per_kw_month * it_kw * 12
    power = power_cost_usd_per_year(facility_mw, power_price_usd_per_mwh)
    margin = rent if pass_through else rent - power
    capex = it_kw / 1e3 * facility_capex_usd_per_mw_it
    note = (f"power passed through to the tenant at cost: ${power:,.0f}/yr billed on top of the rent"
            if pass_through else "power paid by the operator out of the rent")
    return UseResult("hosting", pue, it_kw, it_kw, "kW leased", it_kw, "kW of IT load leased", rent,
                     0.0 if pass_through else power, margin, capex, _payback_years(capex, margin),
                     _annuity_npv(capex, margin, discount_rate, horizon_years), [note],
                     figures={"power_passed_through_usd_per_year": power if pass_through else 0.0})


def _payback_text(years: float | None) -> str:
    return f"{years:.1f} yr at today's prices" if years is not None else "never at today's prices"


def mining_use(x: MiningInputs, asic_power_w: float, *, block_height: int, difficulty_growth_monthly: float,
               discount_rate: float) -> UseResult:
    """`mining` in the shape of the other uses, with the NPV from `mining_projection`."""
    r = mining(x)
    proj = mining_projection(x, block_height=block_height, difficulty_growth_monthly=difficulty_growth_monthly,
                             discount_rate=discount_rate)
    notes = [f"hashprice ${r.hashprice_usd_per_ph_day:.2f}/PH/day, hashcost ${r.hashcost_usd_per_ph_day:.2f}/PH/day "
             f"(incl. PUE), {r.btc_per_day:.4f} BTC/day",
             f"cost per BTC: ${r.cash_cost_per_btc_usd:,.0f} cash (power), ${r.all_in_cost_per_btc_usd:,.0f} all-in "
             f"(capex over {x.horizon_years:g} yr)",
             f"NPV over {x.horizon_years:g} yr with difficulty +{difficulty_growth_monthly:.1%}/month and halvings; "
             f"payback month {proj.payback_month or 'never'}",
             f"the two paybacks: {_payback_text(r.payback_years)} holds today's difficulty, subsidy and price for "
             f"ever; the projection ({proj.payback_month and f'month {proj.payback_month}' or 'never'}) lets "
             f"difficulty grow {difficulty_growth_monthly:.1%}/month and the subsidy halve at block "
             f"{(block_height // HALVING_INTERVAL + 1) * HALVING_INTERVAL:,}: the projection is the one to plan with"]
    figures = {"hashprice_usd_per_ph_day": r.hashprice_usd_per_ph_day,
               "hashcost_usd_per_ph_day": r.hashcost_usd_per_ph_day, "btc_per_day": r.btc_per_day,
               "cash_cost_per_btc_usd": r.cash_cost_per_btc_usd, "all_in_cost_per_btc_usd": r.all_in_cost_per_btc_usd,
               "capex_written_off_years": x.horizon_years, "difficulty_growth_monthly": difficulty_growth_monthly,
               "projected_payback_month": proj.payback_month}
    return UseResult("mining", x.pue, r.it_mw * 1e3, r.it_mw * 1e6 / asic_power_w, "ASICs", r.hashrate_ph, "PH/s",
                     r.revenue_usd_per_year, r.power_cost_usd_per_year, r.margin_usd_per_year, r.capex_usd,
                     r.payback_years, proj.npv_usd, notes, figures=figures)


# --- the four uses of one MW, from profiles ------------------------------------------------------


@dataclass
class Comparison:
    facility_mw: float  # the unit compared (1 MW) ...
    site_mw: float  # ... and the site it scales to
    site: str
    market: str
    asic: str
    gpu: str
    uses: dict[str, UseResult]
    ai_to_mining_revenue: float  # GPUaaS revenue / mining revenue
    assumptions: list[str]
    inputs: dict

    def to_dict(self) -> dict:
        return {
            "per_facility_mw": self.facility_mw, "site_mw": self.site_mw, "site": self.site, "market": self.market,
            "asic": self.asic, "gpu": self.gpu, "inputs": self.inputs,
            "uses": {k: v.to_dict() for k, v in self.uses.items()},
            "ai_to_mining_revenue": self.ai_to_mining_revenue, "assumptions": self.assumptions,
        }


def compare_uses(site, market, asic, gpu, *, pue: float | None = None, power_price: float | None = None,
                 btc_price: float | None = None, difficulty: float | None = None, fees: float | None = None,
                 gpu_hour_price: float | None = None, hosting_price: float | None = None,
                 tokens_per_s_per_gpu: float | None = None, tokens_basis: str | None = None,
                 facility_mw: float = 1.0, pue_by_use: dict[str, float] | None = None) -> Comparison:
    """Mining (with `asic`), GPUaaS and token sales (with `gpu`) and hosting on `facility_mw` of the
    `site`'s power at the `market`'s prices. Keyword overrides replace the profile figures; `pue`
    replaces every use's PUE, `pue_by_use` some uses' PUE. `tokens_per_s_per_gpu` is a measured-and-scaled
    figure (else the GPU profile's published reference), described by `tokens_basis`."""
    pues = {use: pue if pue is not None else site.pue_for(use) for use in USES}
    pues.update(pue_by_use or {})
    price = power_price if power_price is not None else site.power_price_usd_per_mwh
    btc = btc_price if btc_price is not None else market.btc_price_usd
    diff = difficulty if difficulty is not None else market.difficulty
    fee_btc = fees if fees is not None else market.fees_btc_per_block
    if gpu_hour_price is None:
        if gpu.id not in market.gpu_hour_usd:
            raise ValueError(f"market {market.id} has no GPU-hour price for {gpu.id}; give one (--gpu-hour-price)")
        gpu_hour_price = market.gpu_hour_usd[gpu.id]
    rent = hosting_price if hosting_price is not None else market.hosting_usd_per_kw_month.mid
    if tokens_per_s_per_gpu is None:
        if gpu.ref_tokens_per_s is None:
            raise ValueError(f"gpu profile {gpu.id} has no ref_tokens_per_s; measure one or add it")
        tokens_per_s_per_gpu, tokens_basis = gpu.ref_tokens_per_s, f"published: {gpu.ref_model}"
    subsidy = subsidy_btc(market.block_height)
    horizon, rate = site.horizon_years, site.discount_rate
    mx = MiningInputs(facility_mw, pues["mining"], asic.j_per_th, price, btc, diff, fee_btc, subsidy,
                      market.pool_fee, site.uptime, asic.usd_per_th or market.asic_price_usd_per_th,
                      site.mining_infra_capex_usd_per_mw, horizon)
    mining_r = mining_use(mx, asic.power_w, block_height=market.block_height,
                          difficulty_growth_monthly=market.difficulty_growth_monthly, discount_rate=rate)

    def fleet(use: str) -> GpuFleet:
        return GpuFleet(facility_mw, pues[use], gpu.system_w_per_gpu, gpu.price_usd or 0.0,
                        site.ai_facility_capex_usd_per_mw_it, price)

    uses = {
        "mining": mining_r,
        "gpuaas": gpuaas(fleet("gpuaas"), gpu_hour_price, site.gpu_utilization, discount_rate=rate,
                         horizon_years=horizon),
        "hosting": hosting(facility_mw, pues["hosting"], rent, price,
                           facility_capex_usd_per_mw_it=site.ai_facility_capex_usd_per_mw_it,
                           discount_rate=rate, horizon_years=horizon),
        "tokens": token_sales(fleet("tokens"), tokens_per_s_per_gpu, market.token_price_usd_per_m,
                              site.token_utilization, discount_rate=rate, horizon_years=horizon),
    }
    uses["tokens"].figures["tokens_per_s_per_gpu"] = tokens_per_s_per_gpu
    tok = uses["tokens"]
    per_gpu_hour = tok.revenue_usd_per_year / (tok.units * HOURS_PER_YEAR) if tok.units else 0.0
    tok.figures["revenue_usd_per_gpu_hour"] = per_gpu_hour
    tok.notes.append(f"token sales earn ${per_gpu_hour:.2f} per GPU-hour ({per_gpu_hour / gpu_hour_price:.2f}x the "
                     f"${gpu_hour_price:g} rental price) if every token is sold: no demand limit is modelled beyond "
                     f"the {site.token_utilization:.0%} utilisation")
    tok.notes.append(f"{tokens_per_s_per_gpu:,.0f} tok/s per GPU ({tokens_basis})")  # last: the basis
    costs = add_costs(uses, site, gpu, facility_mw)
    if mining_r.revenue_usd_per_year <= 0:
        raise ValueError(f"mining earns nothing: the subsidy at block {market.block_height:,} is {subsidy:g} BTC and "
                         f"fees are {fee_btc:g} BTC per block; give fees > 0 (--fees-btc-per-block)")
    ratio = uses["gpuaas"].revenue_usd_per_year / mining_r.revenue_usd_per_year
    assumptions = [
        "PUE applied: " + ", ".join(f"{u} {p:g}" for u, p in pues.items())
        + (" (--pue override)" if pue is not None or pue_by_use else f" (site {site.id})"),
        f"power ${price:g}/MWh on facility MWh; mining uptime {site.uptime:.0%} (curtailment), AI and hosting on firm power",
        f"mining: {asic.name} {asic.j_per_th:.1f} J/TH, BTC ${btc:,.0f}, difficulty {diff / 1e12:.2f} T, "
        f"subsidy {subsidy:g} + fees {fee_btc:g} BTC/block, pool fee {market.pool_fee:.1%}",
        f"GPUaaS: {gpu.name}, {gpu.system_w_per_gpu:g} W system power per GPU, ${gpu_hour_price:g}/GPU-hour, "
        f"utilisation {site.gpu_utilization:.0%}",
        f"hosting: ${rent:g}/kW-month of IT load, power passed through at cost",
        f"tokens: ${market.token_price_usd_per_m:g}/M tokens ({market.token_model}), utilisation {site.token_utilization:.0%}",
        f"capex: ASICs ${mx.usd_per_th:g}/TH + ${site.mining_infra_capex_usd_per_mw:,.0f}/MW mining infrastructure; "
        f"GPUs ${gpu.price_usd or 0:,.0f} each + ${site.ai_facility_capex_usd_per_mw_it:,.0f}/MW IT AI facility; "
        f"NPV over {horizon:g} yr at {rate:.0%}/yr",
        costs,
        f"AI/mining revenue ratio = GPUaaS revenue / mining revenue per facility MW = {ratio:.1f}x",
    ]
    inputs = {"pue_by_use": pues, "power_price_usd_per_mwh": price, "btc_price_usd": btc, "difficulty": diff,
              "fees_btc_per_block": fee_btc, "subsidy_btc": subsidy, "gpu_hour_usd": gpu_hour_price,
              "hosting_usd_per_kw_month": rent, "tokens_per_s_per_gpu": tokens_per_s_per_gpu,
              "token_price_usd_per_m": market.token_price_usd_per_m, "uptime": site.uptime,
              "horizon_years": horizon, "discount_rate": rate}
    return Comparison(facility_mw, site.facility_mw, site.id, market.id, asic.id, gpu.id, uses, ratio,
                      assumptions, inputs)


def add_costs(uses: dict[str, UseResult], site, gpu, facility_mw: float) -> str:
    """Opex and depreciation per use from the site's [plan]; returns the assumption line that says how."""
    plan = site.plan
    if plan is None:
        return "only power is counted as operating cost: the site has no [plan] (opex, lives) to add"
    life, res = plan.life_years, plan.residual_fraction
    for name, u in uses.items():
        share = plan.opex_share_of_revenue.get(name, 0.0)
        u.opex_usd_per_year = plan.opex_usd_per_mw_year[name] * facility_mw + share * u.revenue_usd_per_year
        u.figures["opex_share_of_revenue"] = share
        if name == "mining":
            infra = site.mining_infra_capex_usd_per_mw * facility_mw
            u.depreciation_usd_per_year = ((u.capex_usd - infra) * (1 - res["asic"]) / life["asic"]
                                           + infra * (1 - res["facility"]) / life["facility"])
        elif name == "hosting":
            u.depreciation_usd_per_year = u.capex_usd * (1 - res["facility"]) / life["facility"]
        else:
            gpus = u.units * (gpu.price_usd or 0.0)
            u.depreciation_usd_per_year = (gpus * (1 - res["gpu"]) / life["gpu"]
                                           + (u.capex_usd - gpus) * (1 - res["facility"]) / life["facility"])
    opex = ", ".join(f"{k} ${v:,.0f}" for k, v in plan.opex_usd_per_mw_year.items())
    return (f"costs: opex per facility MW-year {opex} (+ share of revenue where the site gives one); depreciation "
            f"straight-line over ASICs {life['asic']:g} yr, GPUs {life['gpu']:g} yr, facility {life['facility']:g} yr; "
            "no financing or tax here (see `python -m bench plan`)")


# --- sensitivity ---------------------------------------------------------------------------------


@dataclass
class Sensitivity:
    """Margins per facility MW-year over a grid of BTC price x GPU-hour price, and BTC price x monthly
    difficulty growth, with the break-even lines. Arrays: rows follow `btc_prices`."""

    btc_prices: np.ndarray  # (N,)
    gpu_hour_prices: np.ndarray  # (M,)
    growths: np.ndarray  # (K,) monthly difficulty growth
    mining_margin: np.ndarray  # (N,) today's difficulty
    gpuaas_margin: np.ndarray  # (M,)
    advantage: np.ndarray  # (N, M) GPUaaS margin - mining margin
    indifference_gpu_hour: np.ndarray  # (N,) GPU-hour price at which both margins are equal
    mining_breakeven_btc: float  # BTC price where mining's margin is 0 (today's difficulty)
    gpuaas_breakeven_gpu_hour: float  # GPU-hour price where GPUaaS's margin is 0
    mining_margin_by_growth: np.ndarray  # (N, K) mean yearly margin over the horizon
    breakeven_btc_by_growth: np.ndarray  # (K,)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


def sensitivity(cmp: Comparison, btc_prices, gpu_hour_prices, growths=(0.0, 0.01, 0.02, 0.03, 0.04), *,
                block_height: int, horizon_years: float = 3.0) -> Sensitivity:
    """Vectorised what-if grids around a `Comparison` (revenue is linear in each price)."""
    btc = np.asarray(btc_prices, dtype=float)
    gph = np.asarray(gpu_hour_prices, dtype=float)
    g = np.asarray(growths, dtype=float)
    if np.any(btc <= 0) or np.any(gph <= 0) or np.any(g <= -0.5):
        raise ValueError("prices must be > 0 and monthly growths > -0.5")
    mine, gpu = cmp.uses["mining"], cmp.uses["gpuaas"]
    if mine.revenue_usd_per_year <= 0 or gpu.revenue_usd_per_year <= 0:
        raise ValueError("mining earns nothing at these inputs (subsidy and fees are 0 BTC per block); "
                         "give fees > 0 or a market at a lower block height")
    mine_rev_per_usd = mine.revenue_usd_per_year / cmp.inputs["btc_price_usd"]
    gpu_rev_per_usd = gpu.revenue_usd_per_year / cmp.inputs["gpu_hour_usd"]
    mining_margin = btc * mine_rev_per_usd - mine.power_cost_usd_per_year
    gpuaas_margin = gph * gpu_rev_per_usd - gpu.power_cost_usd_per_year
    advantage = gpuaas_margin[None, :] - mining_margin[:, None]
    indifference = (mining_margin + gpu.power_cost_usd_per_year) / gpu_rev_per_usd
    # reward per hash falls with difficulty growth and with the halvings inside the horizon
    months = np.arange(int(round(horizon_years * 12)))
    fees = cmp.inputs["fees_btc_per_block"]
    heights = block_height + ((months + 0.5) * DAYS_PER_MONTH * BLOCKS_PER_DAY).astype(np.int64)
    reward = (subsidy_btc(heights) + fees) / (cmp.inputs["subsidy_btc"] + fees)
    factor = (reward[None, :] * (1 + g[:, None]) ** -months[None, :]).mean(axis=1)  # (K,)
    by_growth = btc[:, None] * mine_rev_per_usd * factor[None, :] - mine.power_cost_usd_per_year
    return Sensitivity(btc, gph, g, mining_margin, gpuaas_margin, advantage, indifference,
                       mine.power_cost_usd_per_year / mine_rev_per_usd, gpu.power_cost_usd_per_year / gpu_rev_per_usd,
                       by_growth, mine.power_cost_usd_per_year / (mine_rev_per_usd * factor))
