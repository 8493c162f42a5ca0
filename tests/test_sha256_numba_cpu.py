"""numba-cpu specifics (lane groups, threads, array rows, the target edge); the generic bit-exactness and real-header tests
run over every backend in tests/test_sha256_backends.py."""

import array
import hashlib
import random

import numpy as np
import pytest

from kernels.sha256 import numba_cpu as nc
from kernels.sha256 import reference as ref
from tests import headers as H

GENESIS = ref.parse_header_hex(H.GENESIS)
HEADERS = [(ref.parse_header_hex(h), nonce) for h, nonce, _ in H.REAL_HEADERS]


def sha(messages):
    return [hashlib.sha256(bytes(memoryview(m))).digest() for m in messages]


def test_available_on_the_cpu():
    assert nc.available() == (True, "")
    (device,) = nc.devices()
    assert device.index == 0 and device.kind == "cpu"


# --- hash_batch ---


def test_fips_vectors_in_one_batch():
    assert [d.hex() for d in nc.hash_batch([m for m, _ in H.FIPS_VECTORS])] == [d for _, d in H.FIPS_VECTORS]


def test_many_messages_of_one_length_fill_whole_lane_groups():
    rng = random.Random(64)
    messages = [rng.randbytes(64) for _ in range(16 * 7 + 5)]
    assert nc.hash_batch(messages) == sha(messages)


def test_batch_split_across_threads():
    rng = random.Random(5000)
    messages = [rng.randbytes(rng.randrange(200)) for _ in range(5000)]
    assert nc.hash_batch(messages) == sha(messages)


def test_bytes_like_messages():
    messages = [bytearray(b"xyz"), memoryview(b"hello"), np.arange(5, dtype=np.uint32), array.array("I", [1, 2]), b""]
    assert nc.hash_batch(messages) == sha(messages)
    assert nc.hash_batch(iter([b"abc"])) == sha([b"abc"])
    assert nc.hash_batch([]) == []


@pytest.mark.parametrize("shape", [(33, 64), (5, 0), (0, 10), (17, 119)])
def test_rows_of_a_2d_array_are_messages(shape):
    rows = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    assert nc.hash_batch(rows) == sha(rows)
    assert nc.hash_batch(rows[:, ::2]) == sha(np.ascontiguousarray(rows[:, ::2]))  # strided rows


@pytest.mark.parametrize(
    "messages,words",
    [
        (b"abc", "wrap a single message"),
        ("abc", "wrap a single message"),
        ([b"a", "b"], "message 1 is str"),
        ([1], "message 0 is int"),
        (5, "sequence"),
    ],
)
def test_hash_batch_bad_input(messages, words):
    with pytest.raises(ValueError, match=words):
        nc.hash_batch(messages)


# --- scan ---


def test_window_split_across_threads():
    start, count, target = 3_000_001, (1 << 19) + 37, 2**244 - 1  # about 128 hits, in several parts
    assert nc.scan(GENESIS, start, count, target) == ref.scan(GENESIS, start, count, target)


def test_every_nonce_meets_the_largest_target():
    # More hits than the parts have slots for: the scan resumes the parts that filled up.
    assert nc.scan(GENESIS, 10, 5000, ref.MAX_TARGET) == list(range(10, 5010))


def test_target_is_inclusive_to_the_last_bit():
    nonce = 123_457
    value = ref.hash_value(ref.block_hash(GENESIS, nonce))
    for target in (value, value - 1, value + 1, value | 0xFFFFFFFF, value & ~0xFFFFFFFF):
        got = nc.scan(GENESIS, nonce - 40, 80, target)
        assert got == ref.scan(GENESIS, nonce - 40, 80, target)
        assert (nonce in got) == (value <= target)


# --- the sha256d workload declaration, run on numba-cpu ---


def test_sha256d_workload_case_verifies_on_numba_cpu():
    from bench.backends import Selected
    from bench.workloads import sha256d

    reference, case = sha256d.cases([Selected("numba-cpu", nc, nc.devices()[0])], quick=True)
    assert reference.is_reference and reference.backend == "hashlib" and case.reference == reference.key
    assert case.params == {"count": 1 << 22} and case.metric == "hashes_per_s" and case.unit == "H/s"
    hits = case.prepare()()
    ok, what = case.verify(hits)
    assert ok, what
    assert H.GENESIS_NONCE in hits and len(hits) >= 2
    assert not case.verify([n for n in hits if n != H.GENESIS_NONCE])[0]  # the real nonce went missing
    assert not case.verify(sorted(hits + [H.GENESIS_NONCE + 1]))[0]  # a nonce that does not meet the target
    ok, what = reference.verify(reference.prepare()())
    assert ok, what
