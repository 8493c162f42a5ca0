"""SHA-256d on the device backends (opencl, numba-cuda, cupy): scan and hash_batch rates, compile times.

Targets (figures, never assertions): OpenCL >= 0.9x numba-cpu on the same CPU, on every OpenCL device
that builds (PoCL, Intel's CPU runtime); on an H100, cupy >= 8.5 GH/s and numba-cuda >= 5 GH/s. Each
backend that cannot run here is skipped with its reason.
Run: `pytest tests/benchmarks/test_sha256_device_bench.py --benchmark-enable`.
"""

from __future__ import annotations

import time

import pytest

from bench import backends
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import opencl_devices

GENESIS = ref.parse_header_hex(H.GENESIS)
GPU = pytest.mark.gpu
OPENCL = [pytest.param(("opencl", p.values[0]), id=p.id, marks=p.marks) for p in opencl_devices.params()]
DEVICE_BACKENDS = OPENCL + [pytest.param(("numba-cuda", None), marks=GPU, id="numba-cuda"),
                            pytest.param(("cupy", None), marks=GPU, id="cupy")]


def _backend(spec):
    name, index = spec
    if name == "opencl":
        index = opencl_devices.checked(index)
    status = backends.status("sha256d", name)
    if not status.available:
        pytest.skip(status.reason)
    device = next(d for d in status.devices if index is None or d.index == index)
    if device.kind == "simulator":
        pytest.skip(f"{name}: the CUDA simulator is not a benchmark")
    return backends.module("sha256d", name), device


@pytest.mark.parametrize("name", DEVICE_BACKENDS)
def test_scan_rate(benchmark, figures, size, name):
    mod, device = _backend(name)
    name = f"{name[0]}{device.index}" if name[0] == "opencl" else name[0]
    gpu = device.kind == "gpu"
    count = size(1 << 16, 1 << 32 if gpu else 1 << 26)
    start = 0 if count == 1 << 32 else H.GENESIS_NONCE - count // 2
    target = ref.header_target(GENESIS)
    t0 = time.perf_counter()
    mod.scan(GENESIS, 0, 64, ref.MAX_TARGET, device=device.index)  # compile, upload, PoCL work-group build
    figures.record(f"{name}_first_call_s", time.perf_counter() - t0, "s")
    hits = benchmark.pedantic(mod.scan, (GENESIS, start, count, target), {"device": device.index}, rounds=5,
                              warmup_rounds=1)
    assert H.GENESIS_NONCE in hits and all(ref.meets_target(GENESIS, n, target) for n in hits)
    benchmark.extra_info["device"] = device.name
    figures.rate(f"{name}_scan", count, "H/s")


@pytest.mark.parametrize("name", DEVICE_BACKENDS)
def test_hash_batch_rate(benchmark, figures, size, name):
    mod, device = _backend(name)
    name = f"{name[0]}{device.index}" if name[0] == "opencl" else name[0]
    n = size(1024, 1 << 20 if device.kind == "gpu" else 1 << 17)
    messages = [i.to_bytes(8, "little") * 8 for i in range(n)]  # 64-byte messages (two blocks each)
    mod.hash_batch(messages[:1], device=device.index)
    digests = benchmark.pedantic(mod.hash_batch, (messages,), {"device": device.index}, rounds=3, warmup_rounds=1)
    assert [digests[i] for i in (0, n - 1)] == [ref.sha256(messages[i]) for i in (0, n - 1)]
    figures.rate(f"{name}_hash_batch_64B", n, "msg/s")
