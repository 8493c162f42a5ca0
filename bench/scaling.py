"""From a verified measurement to throughput per watt, and from here to a target machine.

Two ways to reach a target, always shown side by side and labelled:

* nameplate (ASICs): the target's published hash rate and power, nothing measured;
* measured efficiency (GPUs): the fraction of peak reached here at a dtype, applied to the target's
  peak at that dtype, with the target's system power per GPU (node + rack share, not just the TDP).

Only verified results belong here: the run harness checks `Result.verified` before calling.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class Point:
    """One throughput at one power, and where both came from."""

    label: str  # e.g. "measured here: numba-cpu on AMD EPYC", "nameplate: Antminer S21 XP"
    basis: str  # "measured" | "nameplate" | "scaled by measured efficiency"
    throughput: float  # per second, in `unit`
    unit: str  # "H/s", "FLOP/s", "tok/s"
    watts: float
    power_source: str  # "nvml" | "rapl" | "estimate" | "nameplate" | "profile system power"
    efficiency: float | None = None  # fraction of peak the scaling assumed

    @property
    def per_watt(self) -> float:
        """Throughput per watt = work per joule."""
        return self.throughput / self.watts

    @property
    def joules_per_unit(self) -> float:
        return self.watts / self.throughput

    def to_dict(self) -> dict:
        return {**asdict(self), "per_watt": self.per_watt}


def _check(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")
    return float(value)


def per_watt(throughput: float, watts: float) -> float:
    return _check("throughput", throughput) / _check("watts", watts)


def j_per_th(hashes_per_s: float, watts: float) -> float:
    """Mining efficiency in J/TH from a hash rate (H/s) and a power (W)."""
    return _check("watts", watts) / (_check("hashes_per_s", hashes_per_s) / 1e12)


def measured(throughput: float, unit: str, energy, label: str) -> Point:
    """A measurement here: `energy` is a bench.results.Energy or its dict (watts + source)."""
    watts = energy["watts"] if isinstance(energy, dict) else energy.watts
    source = energy["source"] if isinstance(energy, dict) else energy.source
    return Point(f"measured here: {label}", "measured", _check("throughput", throughput), unit,
                 _check("watts", watts), source)


def asic_nameplate(asic) -> Point:
    """An ASIC profile's published hash rate and wall power."""
    return Point(f"nameplate: {asic.name}", "nameplate", asic.hashrate_ths * 1e12, "H/s", asic.power_w, "nameplate")


def efficiency(measured_rate: float, peak_rate: float) -> float:
    """Fraction of the peak reached (> 1 means the peak is wrong for this dtype: ValueError)."""
    eff = _check("measured rate", measured_rate) / _check("peak rate", peak_rate)
    if eff > 1.05:
        raise ValueError(f"measured {measured_rate:.3g} exceeds the peak {peak_rate:.3g} by {eff - 1:.0%}; "
                         "check the dtype and the device's peak figure")
    return eff


def gpu_scaled(measured_flops: float, local_peak_flops: float, target, dtype: str) -> Point:
    """GEMM FLOP/s on a target GPU profile at the fraction of peak measured here."""
    if dtype not in target.peak_tflops:
        raise ValueError(f"gpu profile {target.id} has no {dtype} peak; it lists {', '.join(target.peak_tflops)}")
    eff = efficiency(measured_flops, local_peak_flops)
    return Point(f"scaled: {target.name} at {eff:.0%} of its {dtype} peak", "scaled by measured efficiency",
                 eff * target.peak_tflops[dtype] * 1e12, "FLOP/s", target.system_w_per_gpu, "profile system power", eff)


def tokens_scaled(measured_tokens_per_s: float, local_peak: float, target_peak: float, target) -> Point:
    """Tokens/s on a target at the same fraction of peak (compute or bandwidth, the caller's choice of
    peaks: pass memory bandwidths for memory-bound decode)."""
    ratio = _check("target peak", target_peak) / _check("local peak", local_peak)
    return Point(f"scaled: {target.name}, x{ratio:.3g} the peak here", "scaled by measured efficiency",
                 _check("measured tokens/s", measured_tokens_per_s) * ratio, "tok/s", target.system_w_per_gpu,
                 "profile system power")


def side_by_side(points: list[Point]) -> list[dict]:
    """Rows for a report: each point, its throughput per watt, and its ratio to the first point's."""
    if not points:
        return []
    base = points[0].per_watt
    return [{**p.to_dict(), "per_watt_vs_first": p.per_watt / base} for p in points]
