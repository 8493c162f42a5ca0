"""Measured figures move the money: a verified inference measurement scaled to a target GPU profile.

Two ways, the first that the measurement allows:

* fraction of roofline: decode is memory-bound, so the fraction of the device's memory bandwidth the run
  reached is applied to the target's bandwidth (tokens/s x target TB/s / local TB/s);
* throughput per watt: tokens per joule measured here x the target's system power per GPU.

The measured model is small; tokens of the priced model (e.g. 70B) cost more bytes and FLOP per token in
proportion to the parameter count (2 FLOP per parameter per token), so the scaled tokens/s are divided by
(priced parameters / measured parameters). Only verified results are taken.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Measurement:
    """One verified decode measurement from a run file."""

    label: str  # backend, device, model, batch
    tokens_per_s: float
    watts: float
    power_source: str  # nvml | rapl | estimate
    model_params: float  # parameters of the measured model (from its FLOP per token)
    bandwidth_fraction: float | None = None  # of the device's peak memory bandwidth
    local_bandwidth_bytes_per_s: float | None = None  # that peak


@dataclass(frozen=True)
class Scaled:
    tokens_per_s_per_gpu: float  # of the priced model, on the target
    method: str  # "fraction of roofline" | "throughput per watt"
    basis: str  # the sentence a report prints next to the figure

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")
    return float(value)


def scale_to_target(m: Measurement, target, priced_model_params: float) -> Scaled:
    """Tokens/s per GPU of the priced model on the `target` GPU profile, from measurement `m`."""
    size = _positive("priced model parameters", priced_model_params) / _positive("measured model parameters",
                                                                                  m.model_params)
    tps = _positive("tokens_per_s", m.tokens_per_s)
    if m.bandwidth_fraction and m.local_bandwidth_bytes_per_s:
        ratio = target.memory_tbs * 1e12 / _positive("local bandwidth", m.local_bandwidth_bytes_per_s)
        out = tps * ratio / size
        how = "fraction of roofline"
        why = (f"{m.bandwidth_fraction:.1%} of peak memory bandwidth measured ({m.label}), applied to "
               f"{target.name}'s {target.memory_tbs:g} TB/s")
    else:
        out = tps / _positive("watts", m.watts) * target.system_w_per_gpu / size
        how = "throughput per watt"
        why = (f"{tps / m.watts:.3g} tok/J measured ({m.label}, power {m.power_source}) x {target.name}'s "
               f"{target.system_w_per_gpu:g} W per GPU")
    basis = (f"scaled from this run's measurement: {why}, / {size:,.0f} for the priced model's size "
             f"({priced_model_params / 1e9:g}B vs {m.model_params / 1e6:.0f}M parameters)")
    return Scaled(_positive("scaled tokens/s", out), how, basis)


def best_decode(run: dict) -> Measurement:
    """The verified decode result with the most tokens/s in a saved run (its `results` list); GPU devices
    first. ValueError when the run holds none."""
    found = []
    for r in run.get("results") or []:
        params, extra, energy = r.get("params") or {}, r.get("extra") or {}, r.get("energy") or {}
        if not (r.get("workload") == "inference" and params.get("phase") == "decode" and r.get("verified")):
            continue
        value, watts, flop = r.get("value"), energy.get("watts"), extra.get("flop_per_call")
        batch = params.get("batch") or 1
        if not (value and watts and flop) or not all(math.isfinite(v) and v > 0 for v in (value, watts, flop)):
            continue
        frac, bps = extra.get("fraction_of_peak_bandwidth"), extra.get("bytes_per_s")
        local = bps / frac if frac and bps and frac > 0 else None
        label = f"{r.get('backend')} on {r.get('device')}, {params.get('model')} decode batch {batch}"
        gpu = energy.get("source") == "nvml"  # measured on a GPU
        found.append((gpu, value, Measurement(label, float(value), float(watts), str(energy.get("source", "?")),
                                              flop / batch / 2.0, frac, local)))
    if not found:
        raise ValueError("the run holds no verified inference decode result with its energy; run "
                         "`python -m bench run --workload inference` first")
    return max(found, key=lambda t: (t[0], t[1]))[2]
