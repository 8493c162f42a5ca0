"""The SHA-256d round generator (kernels/sha256/rounds.py) on the CPU: both of its outputs compute sha256d.

The Numba CUDA Python runs as plain Python over Python integers (a stand-in for numba.cuda's names), the
CUDA C through a host C++ compiler (tests/host_cuda.py); both find real nonces in small windows around them
and agree with reference.scan on an easy target, for the default tuning and the plain one. sha256d.cu
must be the generator's output, and the kernels' parameters in the order the host code passes them.
"""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import numpy as np
import pytest

from kernels.sha256 import cupy_cuda, device_scan, rounds
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import host_cuda

GENESIS = ref.parse_header_hex(H.GENESIS)
BLOCK_125552 = ref.parse_header_hex(H.BLOCK_125552)
TUNINGS = [rounds.DEFAULT, rounds.PLAIN, rounds.Tuning(wide=2, hi_shifts=True), rounds.Tuning(imad=1, wide=3)]
EASY = 1 << 248  # about one nonce in 256 passes


def _python_kernels(tuning: rounds.Tuning) -> SimpleNamespace:
    """The generated Numba source executed as Python, one thread (grid of one) per call."""

    class Atomic:
        @staticmethod
        def add(array, index, value):
            old = array[index]
            array[index] += value
            return old

    mask = 0xFFFFFFFF
    cuda = SimpleNamespace(gridsize=lambda dim: 1, grid=lambda dim: 0, atomic=Atomic)
    namespace = {"cuda": cuda, "uint32": lambda x: int(x) & mask,
                 "rotr": lambda x, n: ((x >> n) | (x << (32 - n))) & mask,
                 "mad": lambda x, one, y: (x * one + y) & mask,
                 "mullo": lambda x, p: (x * p) & mask, "mulhi": lambda x, p: (x * p) >> 32}
    exec(compile(rounds.numba_source(tuning), "<generated>", "exec"), namespace)  # noqa: S102
    return SimpleNamespace(**namespace)


def _python_scan(kernels, header: bytes, start: int, count: int, target: int) -> list[int]:
    job = tuple(int(x) for x in device_scan.job(header, target))
    hits, n_hits = [0] * 64, [0]
    kernels.scan_kernel(job, 1, start, count, count, hits, n_hits, 64)
    return sorted(hits[: n_hits[0]])


@pytest.mark.parametrize("tuning", TUNINGS, ids=str)
def test_numba_source_finds_real_nonces_and_matches_the_reference(tuning):
    kernels = _python_kernels(tuning)
    for header, nonce in ((GENESIS, H.GENESIS_NONCE), (BLOCK_125552, H.BLOCK_125552_NONCE)):
        assert _python_scan(kernels, header, nonce - 5, 11, ref.header_target(header)) == [nonce]
    assert _python_scan(kernels, GENESIS, 7000, 600, EASY) == ref.scan(GENESIS, 7000, 600, EASY)


def test_numba_source_batch_kernel_hashes_like_hashlib():
    kernels = _python_kernels(rounds.DEFAULT)
    messages = [b"", b"abc", bytes(range(64)), b"x" * 119]
    words, offsets, counts = ref.pack_messages(messages)
    states = np.zeros((len(messages), 8), dtype=np.int64)
    for i in range(len(messages)):
        kernels.cuda.grid = lambda dim, i=i: i
        kernels.batch_kernel([int(w) for w in words], offsets, counts, states, len(messages))
    assert ref.digests_from_states(states.astype(np.uint32)) == [ref.sha256(m) for m in messages]


needs_cxx = pytest.mark.skipif(host_cuda.compiler() is None, reason="no host C++ compiler (g++ or clang++)")


@pytest.fixture(scope="module", params=TUNINGS, ids=str)
def host_kernels(request, tmp_path_factory):
    if host_cuda.compiler() is None:
        pytest.skip("no host C++ compiler (g++ or clang++)")
    return host_cuda.HostKernels(rounds.cuda_source(request.param), tmp_path_factory.mktemp("cuda-c"))


@needs_cxx
def test_cuda_c_finds_real_nonces_in_small_windows(host_kernels):
    for header, nonce in ((GENESIS, H.GENESIS_NONCE), (BLOCK_125552, H.BLOCK_125552_NONCE)):
        job = device_scan.job(header, ref.header_target(header))
        assert host_kernels.scan(job, nonce - 100, 200) == (1, [nonce])
        assert host_kernels.scan(job, nonce + 1, 100) == (0, [])


@needs_cxx
def test_cuda_c_matches_the_reference_and_counts_past_its_buffer(host_kernels):
    job = device_scan.job(GENESIS, EASY)
    expected = ref.scan(GENESIS, 2**32 - 1500, 1500, EASY)  # the window ends at the top nonce
    assert host_kernels.scan(job, 2**32 - 1500, 1500) == (len(expected), expected)
    found, kept = host_kernels.scan(job, 0, 4000, capacity=4)
    assert found == len(ref.scan(GENESIS, 0, 4000, EASY)) > 4 and len(kept) == 4


@needs_cxx
def test_cuda_c_batch_hashes_like_hashlib(host_kernels):
    rng = random.Random(17)
    messages = [b"", b"abc"] + [rng.randbytes(n) for n in (55, 56, 64, 119, 120, 300)]
    words, offsets, counts = ref.pack_messages(messages)
    assert ref.digests_from_states(host_kernels.batch(words, offsets, counts)) == [ref.sha256(m) for m in messages]


def test_cuda_file_is_the_generators_output():
    assert rounds.CUDA_FILE.read_text(encoding="utf-8") == rounds.cuda_source(), (
        "sha256d.cu is stale: python -m kernels.sha256.rounds --write")
    assert cupy_cuda.module_source() == rounds.cuda_source()


def _c_parameters(source: str, kernel: str) -> list[str]:
    params = re.search(kernel + r"\(([^)]*)\)", source).group(1)
    return [p.split()[-1].lstrip("*") for p in params.split(",")]


def test_kernel_parameters_are_in_the_order_the_hosts_pass_them():
    c = _c_parameters(rounds.cuda_source(), "sha256d_scan")
    job = [f"j{i}" for i in range(device_scan.JOB_WORDS)]
    assert c == [*job, "one", "start", "count", "per_thread", "hits", "n_hits", "capacity"]
    python = re.search(r"def scan_kernel\(([^)]*)\)", rounds.numba_source()).group(1).split(", ")
    assert python == ["job", *c[device_scan.JOB_WORDS:]]
    assert f"target_hi = j{device_scan.TARGET_HI}" in rounds.cuda_source()
    assert f"target_hi = job[{device_scan.TARGET_HI}]" in rounds.numba_source()


def test_constants_are_folded_and_dead_halves_dropped():
    for source in (rounds.numba_source(), rounds.cuda_source()):
        assert "0x00000000" not in source  # no adds or xors of zero words
        defined = set(re.findall(r"\b([pq][aewt]\d+) = ", source))
        assert not {f"pw{t}" for t in range(4, 16)} & defined  # the header's padding words are literals
        assert not {f"qw{t}" for t in range(8, 16)} & defined  # and the first digest's
        assert {"qe60", "qe57", "qa57"} <= defined and not {"qa58", "qa59", "qa60", "qe61"} & defined
        assert "qw61" not in defined and "qw60" in defined  # the schedule stops at round 60


def test_imad_tuning_routes_adds_through_mad():
    plain, default = rounds.cuda_source(rounds.PLAIN), rounds.cuda_source()
    assert "mad(" not in plain.split("sha256d_scan(")[1]
    body = default.split("sha256d_scan(")[1].split("sha256_batch(")[0]
    assert body.count("mad(") > 900  # every round's and schedule word's sums
    assert "mad(" not in default.split("void sha256_batch(")[1]  # the batch kernel has no `one`


def test_main_prints_or_writes(capsys, monkeypatch, tmp_path):
    assert rounds.main([]) == 0
    assert capsys.readouterr().out == rounds.cuda_source()
    assert rounds.main(["--numba"]) == 0
    assert capsys.readouterr().out == rounds.numba_source()
    monkeypatch.setattr(rounds, "CUDA_FILE", tmp_path / "k.cu")
    assert rounds.main(["--write"]) == 0 and (tmp_path / "k.cu").read_text() == rounds.cuda_source()


def test_shift_and_rotation_tunings_use_run_time_powers_of_two():
    plain, default, wide = (rounds.cuda_source(t) for t in (rounds.PLAIN, rounds.DEFAULT, rounds.Tuning(wide=1)))
    scan = lambda source: source.split("sha256d_scan(")[1].split("sha256_batch(")[0]  # noqa: E731
    assert "mulhi(" not in scan(plain) and "mullo(" not in scan(plain) and not re.search(r"const uint p\d+ =", plain)
    assert scan(default).count("mulhi(") > 100 and "mullo(" not in scan(default)  # sigma's shifts only
    assert "const uint p29 = one << 29;" in default and "const uint p22 = one << 22;" in default  # >> 3, >> 10
    assert scan(wide).count("mullo(") > 200 and "const uint p7 = one << 7;" in wide  # Sigma1's rotr 25
    python = rounds.numba_source(rounds.Tuning(wide=1))
    assert "p7 = uint32(one << uint32(7))" in python and python.count("mullo(") > 200
