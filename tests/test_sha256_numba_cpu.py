"""numba-cpu specifics (lane groups, threads, array rows, the target edge); the generic bit-exactness and real-header tests
run over every backend in tests/test_sha256_backends.py."""

import array
import hashlib
import random

import numpy as np
import pytest

from kernels.sha256 import numba_cpu as nc
from kernels.sha256 import reference as ref
from kernels.sha256 import arm_sha2, sha_ni
from tests import headers as H
from tests.sha256_cpu import use_scan_kernel

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


@pytest.fixture(params=nc.SCAN_KERNELS)
def kernel(request, monkeypatch):
    """Each scan kernel in turn, whichever this CPU would pick."""
    use_scan_kernel(request.param, monkeypatch)
    return request.param


def test_window_split_across_threads(kernel):
    start, count, target = 3_000_001, (1 << 19) + 37, 2**244 - 1  # about 128 hits, in several parts
    assert nc.scan(GENESIS, start, count, target) == ref.scan(GENESIS, start, count, target)


def test_every_nonce_meets_the_largest_target(kernel):
    # More hits than the parts have slots for: the scan resumes the parts that filled up.
    assert nc.scan(GENESIS, 10, 5000, ref.MAX_TARGET) == list(range(10, 5010))


def test_target_is_inclusive_to_the_last_bit(kernel):
    nonce = 123_457
    value = ref.hash_value(ref.block_hash(GENESIS, nonce))
    for target in (value, value - 1, value + 1, value | 0xFFFFFFFF, value & ~0xFFFFFFFF):
        got = nc.scan(GENESIS, nonce - 40, 80, target)
        assert got == ref.scan(GENESIS, nonce - 40, 80, target)
        assert (nonce in got) == (value <= target)


def test_real_headers_and_the_end_of_the_nonce_space(kernel):
    for header, nonce in HEADERS:
        assert nc.scan(header, nonce - 3000, 6000, ref.header_target(header)) == [nonce]
    top = 2**32 - 1500
    assert nc.scan(GENESIS, top, 1500, 1 << 250) == ref.scan(GENESIS, top, 1500, 1 << 250)


def test_random_headers_and_targets(kernel):
    rng = random.Random(11)
    for _ in range(4):
        header, start = rng.randbytes(80), rng.randrange(2**32 - 4000)
        target = rng.randrange(1 << 248, 1 << 254)
        assert nc.scan(header, start, 4000, target) == ref.scan(header, start, 4000, target)


def test_hash_batch_every_length_and_alignment(kernel):
    """Lengths 0..199 (one to four blocks, every padding case) at every offset mod 4 in the joined buffer,
    neighbours of unequal block counts, an odd count, and one message alone."""
    rng = random.Random(5)
    messages = [rng.randbytes(n) for n in range(200)]
    rng.shuffle(messages)
    assert nc.hash_batch(messages) == sha(messages)
    assert nc.hash_batch(messages[:7]) == sha(messages[:7]) and nc.hash_batch(messages[:1]) == sha(messages[:1])
    rows = np.frombuffer(rng.randbytes(3000 * 64), np.uint8).reshape(3000, 64)  # several parts
    assert nc.hash_batch(rows) == sha(rows)


def test_hash_batch_long_messages_whole_blocks_and_shifted_ones(kernel):
    """Messages of many whole blocks (the SHA unit loads those itself), then the same after a 3-byte message
    has shifted every later one off its 4-byte alignment, pairs of unequal block counts included."""
    rng = random.Random(6)
    aligned = [rng.randbytes(n) for n in (64, 128, 1000, 4096, 60, 704, 1024, 68, 2000)]
    messages = aligned + [b"abc"] + aligned + [rng.randbytes(rng.randrange(900, 1100)) for _ in range(41)]
    assert nc.hash_batch(messages) == sha(messages)


def test_the_scan_follows_the_vector_width_and_hash_batch_the_unit(monkeypatch):
    monkeypatch.delenv("SITEBENCH_SHA256_CPU", raising=False)
    monkeypatch.setattr(nc, "_unit", sha_ni)
    for lanes, has_sha, want in [(8, True, "sha-ni"), (4, True, "sha-ni"), (16, True, "lanes"), (8, False, "lanes")]:
        monkeypatch.setattr(nc, "LANES", lanes)
        monkeypatch.setattr(sha_ni, "available", lambda has=has_sha: has)
        assert nc.scan_kernel() == want, (lanes, has_sha)
        assert nc.batch_kernel() == ("sha-ni" if has_sha else "lanes"), (lanes, has_sha)  # the unit at any width
    monkeypatch.setenv("SITEBENCH_SHA256_CPU", "lanes")
    assert nc.scan_kernel() == nc.batch_kernel() == "lanes"  # the variable chooses for both


def test_an_arm_cpu_with_sha2_scans_on_it(monkeypatch):
    """Grace / Apple M: 4 lanes of NEON, and the SHA2 instructions: the unit is chosen, and named."""
    monkeypatch.delenv("SITEBENCH_SHA256_CPU", raising=False)
    monkeypatch.setattr(nc, "_unit", arm_sha2)
    monkeypatch.setattr(nc, "LANES", 4)
    monkeypatch.setattr(arm_sha2, "available", lambda: True)
    assert nc.scan_kernel() == "arm-sha2" and "Arm SHA2" in nc.scan_description()
    assert nc.kernel_available("arm-sha2") and not nc.kernel_available("sha-ni")
    monkeypatch.setattr(arm_sha2, "available", lambda: False)  # an Arm core without FEAT_SHA256
    assert nc.scan_kernel() == "lanes"


@pytest.mark.parametrize("value,has_sha,words", [("bogus", True, "not one of lanes, sha-ni, arm-sha2"),
                                                 ("sha-ni", False, "does not compile for the SHA extensions")])
def test_a_kernel_that_cannot_run_is_named(monkeypatch, value, has_sha, words):
    monkeypatch.setenv("SITEBENCH_SHA256_CPU", value)
    monkeypatch.setattr(nc, "_unit", sha_ni)
    monkeypatch.setattr(sha_ni, "available", lambda: has_sha)
    with pytest.raises(ValueError, match=words):
        nc.scan_kernel()


def test_the_other_architectures_unit_is_refused(monkeypatch):
    monkeypatch.setattr(nc, "_unit", sha_ni)
    monkeypatch.setattr(sha_ni, "available", lambda: True)
    monkeypatch.setenv("SITEBENCH_SHA256_CPU", "arm-sha2")
    with pytest.raises(ValueError, match="does not compile for the Arm SHA2 instructions on this CPU; unset it"):
        nc.scan_kernel()


def test_sha_ni_is_x86_with_the_sha_feature(monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert sha_ni.available({"+sha", "+sse4.1", "+avx2"}) and not sha_ni.available({"-sha", "+sse4.1"})
    assert not arm_sha2.available({"+sha2", "+neon"})
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    assert not sha_ni.available({"+sha", "+sse4.1"})
    assert arm_sha2.available({"+sha2", "+neon"}) and not arm_sha2.available({"-sha2", "+neon"})
    monkeypatch.setattr("platform.machine", lambda: "arm64")  # macOS
    assert arm_sha2.available({"+sha2", "+neon"})


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
    assert case.extra(1.0) == {"kernel": nc.scan_description()}  # which scan kernel ran, in the run file
    assert ("SHA-NI" in nc.scan_description()) == (nc.scan_kernel() == "sha-ni")


@pytest.mark.skipif(not sha_ni.available(), reason="Numba does not compile for SHA-NI on this CPU")
def test_sha_ni_compressions_equal_hashlib():
    """Short messages, one block each, through compress_each (one stream, and two and three interleaved),
    last_word_each and compress_into: SHA-256 as hashlib computes it."""
    from numba import njit

    @njit
    def one(state, a):
        return sha_ni.compress_each(state, (a,)), sha_ni.last_word_each(state, (a,))

    @njit
    def two(state, a, b):
        return sha_ni.compress_each(state, (a, b)), sha_ni.last_word_each(state, (a, b))

    @njit
    def three(state, a, b, c):
        return sha_ni.compress_each(state, (a, b, c)), sha_ni.last_word_each(state, (a, b, c))

    @njit
    def in_memory(state, a, b):
        x, y = np.array(state), np.array(state)
        sha_ni.compress_into((x, y), (a, b))
        z = np.array(state)
        sha_ni.compress_into((z,), (a,))
        return x, y, z

    def block(message):
        padded = message + b"\x80" + bytes(55 - len(message)) + (8 * len(message)).to_bytes(8, "big")
        return tuple(np.uint32(w) for w in np.frombuffer(padded, ">u4"))

    def digest(words):
        return b"".join(int(w).to_bytes(4, "big") for w in words)

    h0 = tuple(np.uint32(x) for x in ref.H0)
    messages = [b"", b"abc", bytes(range(55))]
    want = [hashlib.sha256(m).digest() for m in messages]
    for run, count in ((one, 1), (two, 2), (three, 3)):
        for first in range(len(messages) - count + 1):
            chosen = range(first, first + count)
            states, h7s = run(h0, *(block(messages[i]) for i in chosen))
            assert [digest(s) for s in states] == [want[i] for i in chosen], (run.__name__, first)
            assert list(h7s) == [s[7] for s in states]
    for i in range(len(messages) - 1):
        x, y, z = in_memory(h0, block(messages[i]), block(messages[i + 1]))
        assert [digest(x), digest(y), digest(z)] == [want[i], want[i + 1], want[i]]


def test_a_named_compile_target_without_features_gets_no_sha_ni(monkeypatch):
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert not sha_ni.available()
