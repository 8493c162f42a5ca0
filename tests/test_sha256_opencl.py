"""OpenCL specifics: each build variant of sha256d.cl runs on every device that builds (PoCL, Intel's CPU
runtime), the device decides the variant, and `bench mine --backend opencl` works end to end. (The shared
FIPS / random / header / easy-target tests run over every backend and device in test_sha256_backends.py.)
"""

from __future__ import annotations

import json

import pytest

from kernels.runtime import cpu
from kernels.runtime import opencl as runtime
from kernels.sha256 import opencl
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import opencl_devices
from tests.cli import assert_usage_error, run_cli

GENESIS = ref.parse_header_hex(H.GENESIS)
AVX512 = opencl.AVX512_FLAGS <= set(cpu.cpu_flags())
DEVICES = opencl_devices.params()

VARIANTS = [
    # 16 lanes only with AVX-512 code: PoCL 3.0's AVX2 code generation for uint16 ran for many minutes here
    pytest.param(opencl.Variant(lanes=16, wide=False, avx512=True),
                 marks=pytest.mark.skipif(not AVX512, reason="the host has no AVX-512")),
    opencl.Variant(lanes=8, wide=False),  # CPUs without AVX-512
    opencl.Variant(lanes=4, wide=False),
    opencl.Variant(lanes=1, wide=True),  # GPUs and Intel's CPU runtime: rotate(), one nonce per work-item
]


@pytest.fixture(params=DEVICES)
def device(request):
    return opencl_devices.checked(request.param)


@pytest.fixture
def variant(request, monkeypatch):
    """Run opencl.scan with the given variant, whatever the device would choose."""
    monkeypatch.setattr(opencl, "scan_variant", lambda device: request.param)
    opencl._scan_for.cache_clear()
    yield request.param
    opencl._scan_for.cache_clear()


@pytest.mark.parametrize("variant", VARIANTS, indirect=True, ids=lambda v: f"lanes{v.lanes}-wide{int(v.wide)}")
def test_every_variant_agrees_with_the_reference(variant, device):
    if not runtime.is_cpu(device) and not variant.wide:
        pytest.skip("vector-lane variants are for CPU devices")
    target = ref.header_target(GENESIS)
    assert opencl.scan(GENESIS, H.GENESIS_NONCE - 777, 1500, target, device=device) == [H.GENESIS_NONCE]
    assert opencl.scan(GENESIS, 5, 1234, 1 << 251, device=device) == ref.scan(GENESIS, 5, 1234, 1 << 251)
    assert opencl.scan(GENESIS, 2**32 - 37, 37, ref.MAX_TARGET, device=device) == list(range(2**32 - 37, 2**32))


def test_the_device_decides_the_variant(device):
    v = opencl.scan_variant(device)
    if not runtime.is_cpu(device) or runtime.platform_kind(device) == "intel":
        assert v.wide and v.lanes == 1  # the compiler vectorises across work-items
    else:
        assert not v.wide and v.lanes == (16 if AVX512 else 8)
        assert v.avx512 == (AVX512 and runtime.platform_kind(device) == "pocl")
    assert "-DLANES=" in v.options() and "-DJOB_TARGET_HI=" in v.options()


def test_mine_cli_finds_the_genesis_nonce(device):
    result = run_cli("mine", "--header", H.GENESIS, "--start", str(H.GENESIS_NONCE - 50_000), "--count", "100000",
                     "--backend", f"opencl:{device}", "--json", "-")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["backend"] == "opencl" and out["count"] == 100_000
    assert out["found"] == [{"nonce": H.GENESIS_NONCE, "hash": H.GENESIS_HASH}]
    assert out["hashes_per_s"] > 0


def test_mine_cli_unknown_opencl_device_is_a_usage_error():
    assert_usage_error(run_cli("mine", "--header", H.GENESIS, "--count", "16", "--backend", "opencl:7"), "no device 7")
