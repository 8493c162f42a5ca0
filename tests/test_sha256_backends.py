"""Every SHA-256 backend that can run here, on the same inputs, against hashlib and reference.scan.

Backends are found as `bench` finds them (bench.backends.status); one that cannot run here is skipped
with its reason (e.g. "cupy: no CUDA device found"), so a GPU machine runs the same module on its GPUs.
OpenCL runs on every device that builds (tests/opencl_devices.py), the others on their first device.
"""

from __future__ import annotations

import hashlib
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import backends
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import opencl_devices

NAMES = [b for b in backends.BACKENDS if backends.module("sha256d", b) is not None]


def _targets() -> list:
    """(backend, device index or None for its first device) for every backend; OpenCL on each device."""
    found = []
    for name in NAMES:
        if name == "opencl":
            found += [pytest.param((name, p.values[0]), id=f"{name}-{p.id}", marks=p.marks)
                      for p in opencl_devices.params()]
        else:
            found.append(pytest.param((name, None), id=name))
    return found
GENESIS = ref.parse_header_hex(H.GENESIS)
BLOCK_125552 = ref.parse_header_hex(H.BLOCK_125552)
HEADERS = [(GENESIS, H.GENESIS_NONCE), (BLOCK_125552, H.BLOCK_125552_NONCE)]


@pytest.fixture(scope="module", params=_targets())
def backend(request):
    """(module, device index, device kind) of each device tested (see _targets)."""
    name, index = request.param
    if name == "opencl":
        index = opencl_devices.checked(index)
    status = backends.status("sha256d", name)
    if not status.available:
        pytest.skip(status.reason)
    device = next(d for d in status.devices if index is None or d.index == index)
    return backends.module("sha256d", name), device.index, device.kind


def sha(messages):
    return [hashlib.sha256(bytes(m)).digest() for m in messages]


def test_fips_vectors(backend):
    mod, dev, kind = backend
    vectors = H.FIPS_VECTORS if kind != "simulator" else H.FIPS_VECTORS[:4]  # a million "a" is 15626 blocks
    got = mod.hash_batch([m for m, _ in vectors], device=dev)
    assert [d.hex() for d in got] == [digest for _, digest in vectors]


def test_every_length_0_to_300(backend):
    mod, dev, kind = backend
    rng = random.Random(300)
    lengths = range(301) if kind != "simulator" else [0, 1, 55, 56, 63, 64, 65, 119, 120, 300]
    messages = [rng.randbytes(n) for n in lengths]
    assert mod.hash_batch(messages, device=dev) == sha(messages)


def test_empty_batch_and_bytes_like(backend):
    mod, dev, _ = backend
    assert mod.hash_batch([], device=dev) == []
    messages = [bytearray(b"xyz"), memoryview(b"hello"), b""]
    assert mod.hash_batch(messages, device=dev) == sha(messages)


@settings(max_examples=25, deadline=None)
@given(messages=st.lists(st.binary(max_size=200), max_size=12))
def test_hash_batch_matches_hashlib(backend, messages):
    mod, dev, _ = backend
    assert mod.hash_batch(messages, device=dev) == sha(messages)


@pytest.mark.parametrize("messages,words", [(b"abc", "wrap a single message"), ([b"a", "b"], "message 1 is str")])
def test_hash_batch_bad_input(backend, messages, words):
    mod, dev, _ = backend
    with pytest.raises(ValueError, match=words):
        mod.hash_batch(messages, device=dev)


@pytest.mark.parametrize("header,nonce", HEADERS, ids=["genesis", "block-125552"])
def test_scan_finds_exactly_the_real_nonce(backend, header, nonce):
    mod, dev, kind = backend
    half = 1000 if kind != "simulator" else 20
    assert mod.scan(header, nonce - half, 2 * half, ref.header_target(header), device=dev) == [nonce]


@pytest.mark.parametrize("header,nonce", HEADERS, ids=["genesis", "block-125552"])
def test_window_without_the_nonce_finds_nothing(backend, header, nonce):
    mod, dev, kind = backend
    count = 4000 if kind != "simulator" else 40
    assert mod.scan(header, nonce + 1, count, ref.header_target(header), device=dev) == []
    assert mod.scan(header, nonce - count, count, ref.header_target(header), device=dev) == []


@pytest.mark.parametrize(
    "start,count,target",
    [
        (0, 3000, 1 << 250),  # about one nonce in 64
        (123_456, 2500, 1 << 253),  # one in 8: more hits than one launch keeps on the GPU backends
        (2**32 - 700, 700, 1 << 252),  # the very end of the nonce space
        (77, 1500, ref.MAX_TARGET),  # every nonce
    ],
)
def test_easy_target_finds_what_hashlib_finds(backend, start, count, target):
    mod, dev, kind = backend
    if kind == "simulator":
        count = min(count, 48)
    assert mod.scan(GENESIS, start, count, target, device=dev) == ref.scan(GENESIS, start, count, target)


def test_scan_ignores_the_headers_own_nonce(backend):
    mod, dev, _ = backend
    other = ref.with_nonce(GENESIS, 0)
    assert mod.scan(other, H.GENESIS_NONCE - 10, 20, ref.header_target(GENESIS), device=dev) == [H.GENESIS_NONCE]


def test_random_headers_against_the_reference(backend):
    mod, dev, kind = backend
    rng = random.Random(7)
    for _ in range(3):
        header = rng.randbytes(80)
        start, count = rng.randrange(2**32 - 600), 600 if kind != "simulator" else 24
        assert mod.scan(header, start, count, 1 << 251, device=dev) == ref.scan(header, start, count, 1 << 251)


@pytest.mark.parametrize(
    "args,words",
    [
        ((GENESIS[:79], 0, 16, ref.MAX_TARGET), "79 bytes"),
        ((GENESIS, 0, 0, ref.MAX_TARGET), "count must be positive"),
        ((GENESIS, -1, 16, ref.MAX_TARGET), "start must be >= 0"),
        ((GENESIS, 2**32 - 10, 11, ref.MAX_TARGET), "2\\*\\*32-1"),
        ((GENESIS, 0, 16, -1), "0..2\\*\\*256-1"),
        ((GENESIS, 0, 16, 2**256), "0..2\\*\\*256-1"),
        ((GENESIS, 0, 16, "ff" * 32), "must be an int"),
    ],
)
def test_scan_bad_input(backend, args, words):
    mod, dev, _ = backend
    with pytest.raises(ValueError, match=words):
        mod.scan(*args, device=dev)


def test_unknown_device(backend):
    mod, _, _ = backend
    with pytest.raises(ValueError, match="no device 99"):
        mod.scan(GENESIS, 0, 16, ref.MAX_TARGET, device=99)
    with pytest.raises(ValueError, match="no device 99"):
        mod.hash_batch([b""], device=99)


def test_every_backend_module_is_listed():
    """A sha256 backend file is found by name; this list is what the module above runs over."""
    here = {f[:-3] for f in os.listdir(os.path.dirname(ref.__file__)) if f.endswith(".py")}
    assert {backends.MODULES[b] for b in NAMES} == here & set(backends.MODULES.values())
