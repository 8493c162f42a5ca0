"""Rank 0's rows: each rank's results tagged with the rank, shared energy split, and one total per figure.

A per-rank result keeps its own figure, with the rank and host in its device label and `rank`/`ranks`
in its params (so `bench compare` pairs rank r of one run with rank r of another of the same size).
Ranks whose meters read the same hardware (CPU ranks of one host all read its RAPL packages, or the
same profile power) each keep 1/n of the reading, so the sum over ranks counts the hardware once. The
total of a figure is the sum over the ranks that measured it: rates add (the ranks ran together),
joules and watts add, joules per unit = joules / work. A total is verified only when every rank's
figure is and no rank is missing; its ratio to the reference is the ratio of the sums.
"""

from __future__ import annotations

from collections import defaultdict

from bench.results import Result
from bench.timing import summarize


def tag(result: Result, rank: int, ranks: int, binding: dict) -> Result:
    """Mark `result` as rank `rank`'s: device label, params and extra."""
    result.device = f"{result.device} · rank {rank} on {binding.get('host', '?')}"
    result.params = {**result.params, "rank": rank, "ranks": ranks}
    result.extra = {**result.extra, "rank": rank, "host": binding.get("host"), "local_rank": binding.get("local_rank"),
                    "cores": binding.get("cores"), "threads": binding.get("threads")}
    return result


def group_key(result: Result) -> tuple:
    """Results that are the same measurement on different ranks share this key."""
    params = {k: v for k, v in result.params.items() if k != "rank"}
    return result.workload, result.backend, tuple(sorted((k, str(v)) for k, v in params.items()))


def share_energy(members: list[tuple[Result, tuple]]) -> None:
    """Split each reading among the ranks whose meters cover the same hardware (`domain`)."""
    by_domain: dict[tuple, list[Result]] = defaultdict(list)
    for result, domain in members:
        if result.energy:
            by_domain[tuple(domain)].append(result)
    for domain, group in by_domain.items():
        n = len(group)
        if n < 2:
            continue
        ranks = ", ".join(str(r.extra.get("rank")) for r in group)
        for r in group:
            e = dict(r.energy)
            for k in ("joules", "watts", "joules_per_unit"):
                if e.get(k) is not None:
                    e[k] = e[k] / n
            e["detail"] = f"{e.get('detail', '')}; 1/{n} of a reading shared by ranks {ranks} ({domain[1]} of {domain[0]})"
            r.energy = e


def _energy_sum(group: list[Result]) -> dict | None:
    if not group or not all(r.energy and r.energy.get("joules_per_unit") for r in group):
        return None
    joules = sum(r.energy["joules"] for r in group)
    work = sum(r.energy["joules"] / r.energy["joules_per_unit"] for r in group)
    sources = {r.energy["source"] for r in group}
    return {"joules": joules, "watts": sum(r.energy["watts"] for r in group),
            "source": "estimate" if "estimate" in sources else sources.pop(),
            "seconds": max(r.energy.get("seconds", 0.0) for r in group),
            "detail": f"sum over {len(group)} ranks", "joules_per_unit": joules / work if work else None,
            "per": group[0].energy.get("per")}


def total(group: list[Result], *, ranks: int, absent: list[str], extra: dict | None = None) -> Result:
    """The sum of one figure over the ranks in `group`; `absent` names ranks that have no figure."""
    first = group[0]
    value = sum(r.value for r in group)
    bad = [f"rank {r.extra.get('rank')}" for r in group if not r.verified]
    ok = not bad and not absent
    what = (f"sum of {len(group)} per-rank figure(s), measured together"
            + ("; all verified" if not bad else f"; NOT verified on {', '.join(bad)}")
            + (f"; missing: {', '.join(absent)} (see the errors)" if absent else ""))
    hosts = {r.extra.get("host") for r in group}
    result = Result(
        workload=first.workload, backend=first.backend,
        device=f"{len(group)} of {ranks} ranks on {len(hosts)} host(s)",
        params={**first.params, "rank": "all"}, metric=first.metric, value=value, unit=first.unit,
        samples=[value], stats=summarize([value]).to_dict(), verified=ok, verification=what,
        energy=_energy_sum(group), device_index=first.device_index, is_reference=first.is_reference,
        device_kind=first.device_kind,
        timing={"window_s": max((r.timing or {}).get("window_s", 0.0) for r in group)},
        extra={"aggregate": True, "ranks": [r.extra.get("rank") for r in group], **(extra or {})},
    )
    if all(r.ratio_to_reference for r in group):
        result.reference = f"{first.reference}, summed over the same ranks"
        result.ratio_to_reference = value / sum(r.value / r.ratio_to_reference for r in group)
    return result
