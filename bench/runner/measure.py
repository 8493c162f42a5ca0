"""The measuring engine: prepare -> wait for other threads to go quiet -> time (with the energy meter around
exactly the timed window) -> verify -> `Result`, one case after another; a case that raises is recorded as
an error and the others go on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from rich.markup import escape
from rich.progress import Progress

from bench import power
from bench.errors import UsageError
from bench.results import Energy, Result, energy_dict, from_timing
from bench.runner.options import Budget
from bench.runner.quiet import wait_until_quiet
from bench.timing import HostTimer, measure
from bench.workloads import Case


def meter_for(case: Case):
    """The energy meter for the case's device (bench.power), or None where there is none.

    References run under their own names ('hashlib', 'cublas'); a GPU is metered through NVML by its PCI
    address whichever code runs on it. A device without any source (an unknown GPU without NVML) is left unmetered
    rather than stopping the run.
    """
    try:
        return power.meter_for(case.backend, case.device)
    except UsageError:
        return None


def energy_of(reading, case: Case, work: float) -> dict | None:
    """A meter's reading (bench.power) as the run file's energy dict, with joules per metric unit."""
    if reading is None:
        return None
    if isinstance(reading, dict):
        reading = Energy(**{k: reading[k] for k in ("joules", "watts", "source", "seconds", "detail") if k in reading})
    elif not isinstance(reading, Energy):
        reading = Energy(reading.joules, reading.watts, reading.source,
                         getattr(reading, "seconds", 0.0), getattr(reading, "detail", ""))
    return energy_dict(reading, work, case.unit)


def measure_case(case: Case, budget: Budget, ratio_to: dict[str, Result]) -> Result:
    """Prepare, time, verify: one Result, verified or not (never an unchecked number)."""
    t0 = time.perf_counter()
    step = case.prepare()
    prepare_s = time.perf_counter() - t0
    timer = case.timer() if case.timer else HostTimer(case.sync)
    settled = wait_until_quiet()  # the last case's check may have left BLAS threads spinning
    timing = measure(step, timer=timer, meter=meter_for(case), **budget.kwargs())
    t0 = time.perf_counter()
    ok, what = case.verify(timing.output)
    seconds_per_call = timing.stats.median
    extra = dict(case.extra(seconds_per_call)) if case.extra else {}
    checks_s = time.perf_counter() - t0
    result = from_timing(
        timing,
        work_per_call=case.work_per_call,
        workload=case.workload,
        backend=case.backend,
        device=case.device.name,
        params=case.params,
        metric=case.metric,
        unit=case.unit,
        verified=bool(ok),
        verification=str(what),
        energy=energy_of(timing.energy, case, timing.window_calls * case.work_per_call),
        device_index=case.device.index,
        device_kind=case.device.kind,
        is_reference=case.is_reference,
        extra=extra,
    )
    result.timing.update(prepare_s=prepare_s, verify_s=checks_s, **settled)
    link_reference(result, ratio_to.get(case.reference) if case.reference else None)
    return result


def link_reference(result: Result, ref: Result | None) -> None:
    """Show `result` as a ratio to its reference, when that reference ran and was verified."""
    if ref is not None and ref.verified and ref.value:
        result.reference = f"{ref.backend} ({ref.device})"
        result.ratio_to_reference = result.value / ref.value


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    complete: bool = True
    interrupted_at: str | None = None


def execute(cases: list[Case], budget: Budget, *, outcome: Outcome | None = None,
            progress: Progress | None = None, on_result: Callable[[Result], None] | None = None) -> Outcome:
    """Measure every case in order into `outcome`. Ctrl-C leaves it as far as it got and re-raises."""
    outcome = outcome if outcome is not None else Outcome()
    by_key: dict[str, Result] = {}
    task = progress.add_task("", total=len(cases), current="") if progress is not None else None
    try:
        for i, case in enumerate(cases):
            outcome.interrupted_at = case.key
            if progress is not None:
                progress.update(task, current=escape(f"{case.workload} · {case.backend}:{case.device.index} · "
                                                     f"{case.label or params_text(case.params)}"))
            try:
                result = measure_case(case, budget, by_key)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken backend must not lose the others' results
                outcome.errors.append({"case": case.key, "workload": case.workload, "backend": case.backend,
                                       "device": case.device.name, "error": f"{type(exc).__name__}: {exc}"})
            else:
                by_key[case.key] = result
                outcome.results.append(result)
                outcome.interrupted_at = cases[i + 1].key if i + 1 < len(cases) else None
                if on_result is not None:
                    on_result(result)
            if progress is not None:
                progress.advance(task)
    except KeyboardInterrupt:
        outcome.complete = False
        raise
    outcome.interrupted_at = None
    for case in cases:  # references that ran after the cases they serve
        if case.key in by_key and case.reference and by_key[case.key].ratio_to_reference is None:
            link_reference(by_key[case.key], by_key.get(case.reference))
    return outcome


def params_text(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())
