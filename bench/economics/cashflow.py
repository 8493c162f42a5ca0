"""Monthly operating lines of a strategy (`Ops`) and its cash flows after financing and tax (`CashFlows`).

net = revenue - power - opex - capex + financing - tax, per month. `capex` is net of disposals: assets sold
(a refreshed GPU generation, everything at the horizon's end, at straight-line book value down to its
residual) count as negative capex. financing = debt drawn - interest - principal repaid. Tax is charged on
EBITDA - depreciation - interest, losses carried forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.economics import finance
from bench.economics.inputs import PlanInputs

COLUMNS = ("month", "revenue_usd", "power_usd", "opex_usd", "capex_usd", "financing_usd", "tax_usd", "net_usd")


@dataclass
class Ops:
    """Operating lines per month (arrays of one length) before financing and tax."""

    revenue: np.ndarray
    power: np.ndarray
    opex: np.ndarray
    capex: np.ndarray  # spent (>= 0)
    disposals: np.ndarray  # received for assets sold (>= 0)
    depreciation: np.ndarray
    ai_ebitda: np.ndarray  # the part of EBITDA from AI (GPUaaS, hosting, tokens), for the valuation line

    @classmethod
    def zeros(cls, n: int) -> "Ops":
        return cls(*(np.zeros(n) for _ in range(7)))

    def __add__(self, other: "Ops") -> "Ops":
        return Ops(*(getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__))

    def scaled(self, factor) -> "Ops":
        """Every line x factor (a number, or an array per month: MW in use that month)."""
        return Ops(*(getattr(self, k) * factor for k in self.__dataclass_fields__))

    @property
    def ebitda(self) -> np.ndarray:
        return self.revenue - self.power - self.opex


@dataclass
class CashFlows:
    months: np.ndarray
    revenue: np.ndarray
    power: np.ndarray
    opex: np.ndarray
    capex: np.ndarray  # net of disposals
    financing: np.ndarray
    tax: np.ndarray
    net: np.ndarray  # equity cash flow
    ebitda: np.ndarray
    ai_ebitda: np.ndarray
    gross_capex_usd: float

    @property
    def project_net(self) -> np.ndarray:
        """The cash flow before financing (what the project IRR is of)."""
        return self.net - self.financing

    def rows(self) -> list[dict]:
        cols = (self.months, self.revenue, self.power, self.opex, self.capex, self.financing, self.tax, self.net)
        return [{"month": int(row[0]), **{k: float(v) for k, v in zip(COLUMNS[1:], row[1:])}}
                for row in zip(*cols)]

    def yearly(self) -> list[dict]:
        """The same lines summed per year, with EBITDA."""
        out = []
        for y in range(int(np.ceil(self.months.size / 12))):
            s = slice(12 * y, 12 * (y + 1))
            out.append({"year": y + 1, "revenue_usd": float(self.revenue[s].sum()),
                        "power_usd": float(self.power[s].sum()), "opex_usd": float(self.opex[s].sum()),
                        "ebitda_usd": float(self.ebitda[s].sum()), "capex_usd": float(self.capex[s].sum()),
                        "financing_usd": float(self.financing[s].sum()), "tax_usd": float(self.tax[s].sum()),
                        "net_usd": float(self.net[s].sum())})
        return out


def settle(ops: Ops, x: PlanInputs) -> CashFlows:
    """Operating lines -> equity cash flows: debt on the capex, interest, repayment, tax."""
    months = x.months
    draws, interest, principal = finance.debt(ops.capex, share=x.debt_share, rate_per_year=x.debt_rate,
                                              term_months=int(round(x.debt_term_years * 12)), cap_usd=x.debt_cap_usd)
    ebitda = ops.ebitda
    tax = finance.tax(ebitda - ops.depreciation - interest, x.tax_rate)
    financing = draws - interest - principal
    capex = ops.capex - ops.disposals
    net = ebitda - capex + financing - tax
    return CashFlows(months, ops.revenue, ops.power, ops.opex, capex, financing, tax, net, ebitda, ops.ai_ebitda,
                     float(ops.capex.sum()))
