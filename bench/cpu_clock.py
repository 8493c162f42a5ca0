"""The CPU's clock while it runs our code, measured, for the derived peak of the host CPU profile.

Inside a VM `/proc/cpuinfo` shows a nominal clock (2.6 GHz here) and there is no cpufreq folder, while the
cores really boost higher (3.6 GHz here): a peak derived from the nominal clock put OpenBLAS at 120% of
"peak". So, where the kernel does not say the maximum clock, it is measured: a chain of dependent
`x += x >> 7` steps is one shift and one add, 1 cycle each on every x86-64 and AArch64 core, that no
compiler can shorten — 2 cycles per step, so steps x 2 / seconds is the clock.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

import kernels  # noqa: F401 - the Numba settings, before numba is imported

CYCLES_PER_STEP = 2
STEPS = 50_000_000  # about 30 ms at 3.5 GHz
REPEATS = 5


def _chain():
    from numba import njit  # imported on first use: most commands never time the clock

    @njit(cache=True)
    def chain(steps, x):
        for _ in range(steps):
            x = x + (x >> np.uint64(7))
        return x

    return chain


@lru_cache(maxsize=1)
def measured_ghz() -> float:
    """The best of a few timed chains on one core, in GHz."""
    chain = _chain()
    chain(10, np.uint64(3))  # compile / load from the cache
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        chain(STEPS, np.uint64(12345))
        best = min(best, time.perf_counter() - t0)
    return STEPS * CYCLES_PER_STEP / best / 1e9


def kernel_max_ghz(root: Path = Path("/sys/devices/system/cpu/cpu0/cpufreq")) -> float | None:
    """cpufreq's maximum clock where the kernel exposes it (bare metal), else None."""
    try:
        return int((root / "cpuinfo_max_freq").read_text().strip()) / 1e6
    except (OSError, ValueError):
        return None


def max_ghz() -> tuple[float | None, str]:
    """(GHz, how it was found): cpufreq's maximum, else measured here."""
    ghz = kernel_max_ghz()
    if ghz:
        return ghz, "cpufreq cpuinfo_max_freq"
    try:
        return measured_ghz(), "measured here with a dependent shift+add chain (2 cycles per step)"
    except Exception as exc:  # noqa: BLE001 - no Numba or an odd platform: no peak rather than a wrong one
        return None, f"unknown ({type(exc).__name__}: {exc})"
