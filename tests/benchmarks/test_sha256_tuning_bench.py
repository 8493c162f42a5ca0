"""The generated SHA-256d scan kernel's variants (kernels/sha256/rounds.py Tuning) side by side on a GPU.

The default routes the sums and sigma's shifts through IMAD (the FMA pipe) because sm_90 SASS then has
~27% fewer instructions on the saturated ALU pipe (tests/test_sha256_sass.py); only a GPU can say whether
that is faster, and whether IMAD.WIDE rotations ("wide2") pay. Each variant scans the same 2**32 nonces of the genesis header (2**16 without --benchmark-enable)
and must find the real nonce; the figures are GH/s per variant (run them in one session to compare).
Run: `pytest tests/benchmarks/test_sha256_tuning_bench.py -m gpu --benchmark-enable`.
"""

from __future__ import annotations

import pytest

from bench import backends
from kernels.sha256 import reference as ref
from kernels.sha256 import rounds
from tests import headers as H

GENESIS = ref.parse_header_hex(H.GENESIS)
TUNINGS = {"default": rounds.DEFAULT, "plain": rounds.PLAIN, "imad-adds-only": rounds.Tuning(hi_shifts=False),
           "wide2": rounds.Tuning(wide=2)}


def _gpu_backend(name):
    status = backends.status("sha256d", name)
    if not status.available or status.devices[0].kind != "gpu":
        pytest.skip(status.reason or f"{name}: no real GPU (simulator only)")
    return backends.module("sha256d", name), status.devices[0]


@pytest.mark.gpu
@pytest.mark.parametrize("variant", sorted(TUNINGS))
@pytest.mark.parametrize("name", ["cupy", "numba-cuda"])
def test_scan_rate_by_tuning(benchmark, figures, size, name, variant):
    mod, device = _gpu_backend(name)
    tuning = TUNINGS[variant]
    count = size(1 << 16, 1 << 32)
    start = 0 if count == 1 << 32 else H.GENESIS_NONCE - count // 2
    target = ref.header_target(GENESIS)
    kwargs = {"device": device.index, "tuning": tuning}
    mod.scan(GENESIS, 0, 64, ref.MAX_TARGET, **kwargs)  # compile (or load from the cache) first
    hits = benchmark.pedantic(mod.scan, (GENESIS, start, count, target), kwargs, rounds=5, warmup_rounds=1)
    assert H.GENESIS_NONCE in hits
    benchmark.extra_info.update(device=device.name, tuning=str(tuning))
    figures.rate(f"{name}_scan_{variant}", count, "H/s")
