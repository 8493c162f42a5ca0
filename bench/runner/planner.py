"""Planning a run: which workloads have landed, which backends and devices run each, and the cases.

A workload is `bench/workloads/<name>.py` with `cases(selected, *, quick)`; a missing file is a workload
that has not landed (listed as missing, never faked). By default every backend that works here runs a
workload, on every device it finds, except the slow CUDA simulator; a backend the user names must work
here or the run stops with exit 2 before anything is measured (never a silent fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bench import backends
from bench.errors import UsageError
from bench.workloads import Case


@dataclass
class Plan:
    cases: list[Case]
    missing: list[dict]  # workloads whose module has not landed: {"workload", "reason"}
    skipped: list[dict]  # backends not run: {"workload", "backend", "reason"}


def workload_module(name: str):
    """bench.workloads.<name>, or None where that workload has not landed yet."""
    return backends.import_if_present(f"bench.workloads.{name}")


def select(workload: str, specs: list[str] | None, skipped: list[dict]) -> list[backends.Selected]:
    """The backends/devices to run `workload` on. Asked-for backends must work (UsageError otherwise);
    by default every backend that works here runs, except the slow CUDA simulator."""
    chosen: list[backends.Selected] = []
    if specs is None:
        for st in backends.discover([workload]):
            _skip_unusable(workload, st, skipped)
            if not st.available:
                if st.has_kernel:
                    skipped.append({"workload": workload, "backend": st.backend, "reason": st.reason})
                continue
            for dev in st.devices:
                if dev.kind == "simulator":
                    skipped.append({"workload": workload, "backend": st.backend,
                                    "reason": "the CUDA simulator runs only when asked for (--backend numba-cuda)"})
                    continue
                chosen.append(backends.Selected(st.backend, backends.module(workload, st.backend), dev))
        return chosen
    for spec in specs:
        name, index = backends.parse_spec(spec)
        if backends.module(workload, name) is None:
            skipped.append({"workload": workload, "backend": name, "reason": f"{name} has no {workload} kernel"})
            continue
        picked = backends.require(workload, spec)
        if index is None:  # all devices of a backend: say which could not run
            _skip_unusable(workload, backends.status(workload, name), skipped)
        chosen.extend(s for s in picked if s.label not in {c.label for c in chosen})
    return chosen


def _skip_unusable(workload: str, st: backends.BackendStatus, skipped: list[dict]) -> None:
    """Devices a backend found but cannot run on (e.g. OpenCL that builds nothing) go to 'Not run here'."""
    if not st.available:  # the backend's own reason already names every device
        return
    for device, why in st.unusable:
        skipped.append({"workload": workload, "backend": f"{st.backend}:{device.index}", "reason": why})


def plan(options, load: Callable[[str], object] = workload_module, choose=select) -> Plan:
    """All cases to run, references first within each workload; UsageError for what cannot be run."""
    for spec in options.backends or []:
        backends.parse_spec(spec)  # unknown names fail before anything runs
    cases: list[Case] = []
    missing: list[dict] = []
    skipped: list[dict] = []
    explicit = set(options.workloads) != set(backends.WORKLOADS)
    for workload in options.workloads:
        mod = load(workload)
        if mod is None:
            reason = f"bench/workloads/{workload}.py has not landed yet"
            if explicit:
                raise UsageError(f"workload {workload} cannot run: {reason}; choose another --workload")
            missing.append({"workload": workload, "reason": reason})
            continue
        selected = choose(workload, options.backends, skipped)
        if not selected:
            skipped.append({"workload": workload, "backend": "*", "reason": "no backend selected runs it"})
            continue
        found = mod.cases(selected, quick=options.quick, **options.case_options(workload))
        seen = {c.key for c in cases}
        for case in sorted(found, key=lambda c: not c.is_reference):
            if case.key not in seen:
                seen.add(case.key)
                cases.append(case)
    if options.backends:
        ran = {c.backend for c in cases}
        for spec in options.backends:
            name, _ = backends.parse_spec(spec)
            if name not in ran:
                raise UsageError(
                    f"backend {name} runs none of the chosen workloads ({', '.join(options.workloads)}); "
                    "choose another --workload or --backend"
                )
    return Plan(cases, missing, skipped)
