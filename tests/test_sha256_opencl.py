"""OpenCL specifics: each build variant of sha256d.cl runs on PoCL, the device decides the variant, and
`bench mine --backend opencl` works end to end. (The shared FIPS / random / header / easy-target tests
run over every backend in test_sha256_backends.py.)
"""

from __future__ import annotations

import json

import pytest

from kernels.runtime import cpu
from kernels.runtime import opencl as runtime
from kernels.sha256 import opencl
from kernels.sha256 import reference as ref
from tests import headers as H
from tests.cli import assert_usage_error, run_cli

OK, WHY = opencl.available()
pytestmark = pytest.mark.skipif(not OK, reason=WHY)
GENESIS = ref.parse_header_hex(H.GENESIS)
CPU = OK and runtime.is_cpu(0)
AVX512 = opencl.AVX512_FLAGS <= set(cpu.cpu_flags())

VARIANTS = [
    # 16 lanes only with AVX-512 code: PoCL 3.0's AVX2 code generation for uint16 ran for many minutes here
    pytest.param(opencl.Variant(lanes=16, gpu=False, avx512=True),
                 marks=pytest.mark.skipif(not AVX512, reason="the host has no AVX-512")),
    opencl.Variant(lanes=8, gpu=False),  # CPUs without AVX-512
    opencl.Variant(lanes=4, gpu=False),
    opencl.Variant(lanes=1, gpu=True),  # the GPU kernel (rotate(), one nonce per work-item), here on PoCL
]


@pytest.fixture
def variant(request, monkeypatch):
    """Run opencl.scan with the given variant on device 0, whatever the device would choose."""
    monkeypatch.setattr(opencl, "scan_variant", lambda device: request.param)
    opencl._scan_for.cache_clear()
    yield request.param
    opencl._scan_for.cache_clear()


@pytest.mark.skipif(not CPU, reason="variants are compared on a CPU device (PoCL)")
@pytest.mark.parametrize("variant", VARIANTS, indirect=True, ids=lambda v: f"lanes{v.lanes}-gpu{int(v.gpu)}")
def test_every_variant_agrees_with_the_reference(variant):
    target = ref.header_target(GENESIS)
    assert opencl.scan(GENESIS, H.GENESIS_NONCE - 777, 1500, target) == [H.GENESIS_NONCE]
    assert opencl.scan(GENESIS, 5, 1234, 1 << 251) == ref.scan(GENESIS, 5, 1234, 1 << 251)
    assert opencl.scan(GENESIS, 2**32 - 37, 37, ref.MAX_TARGET) == list(range(2**32 - 37, 2**32))


@pytest.mark.skipif(not CPU, reason="needs a CPU OpenCL device")
def test_a_cpu_device_scans_in_vector_lanes():
    v = opencl.scan_variant(0)
    assert not v.gpu and v.lanes == (16 if AVX512 else 8)
    if "Portable Computing Language" in runtime.device(0).platform.name:
        assert v.avx512 == AVX512
    assert "-DLANES=" in v.options() and "-DJOB_TARGET_HI=" in v.options()


def test_mine_cli_finds_the_genesis_nonce():
    result = run_cli("mine", "--header", H.GENESIS, "--start", str(H.GENESIS_NONCE - 50_000), "--count", "100000",
                     "--backend", "opencl:0", "--json", "-")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["backend"] == "opencl" and out["count"] == 100_000
    assert out["found"] == [{"nonce": H.GENESIS_NONCE, "hash": H.GENESIS_HASH}]
    assert out["hashes_per_s"] > 0


def test_mine_cli_unknown_opencl_device_is_a_usage_error():
    assert_usage_error(run_cli("mine", "--header", H.GENESIS, "--count", "16", "--backend", "opencl:7"), "no device 7")
