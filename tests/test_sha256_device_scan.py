"""The host side of the device scans: the precomputed job words and the hit-buffer protocol.

The job is checked by a plain-Python model of what every kernel does with it (start at round 3, stop
the second hash after round 60), against hashlib: a wrong word here would be wrong on every device.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from kernels.sha256 import device_scan as ds
from kernels.sha256 import reference as ref
from tests import headers as H

M32 = 0xFFFFFFFF


def rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & M32


def rounds(state, w, first, last):
    a, b, c, d, e, f, g, h = state
    for t in range(first, last):
        t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + (g ^ (e & (f ^ g))) + int(ref.K[t]) + w[t]) & M32
        t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) | (c & (a | b)))) & M32
        a, b, c, d, e, f, g, h = (t1 + t2) & M32, a, b, c, (d + t1) & M32, e, f, g
    return [a, b, c, d, e, f, g, h]


def expand(w, first, last):
    for t in range(first, last):
        s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & M32


def last_word(job, nonce):
    """What sha256d_core.h's sha256d_last_word computes from the job, in Python."""
    j = [int(x) for x in job]
    w3 = ds.nonce_word(nonce)
    w = j[ds.TAIL:ds.TAIL + 3] + [w3, 0x80000000] + [0] * 10 + [640] + [0] * 48
    s0 = rotr(w3, 7) ^ rotr(w3, 18) ^ (w3 >> 3)
    w[16], w[17], w[18], w[19] = j[ds.W16], j[ds.W17], (j[ds.W18_PART] + s0) & M32, (j[ds.W19_PART] + w3) & M32
    expand(w, 20, 64)
    s3 = j[ds.STATE3:ds.STATE3 + 6]
    state = [(j[ds.A4_PART] + w3) & M32, *s3[:3], (j[ds.E4_PART] + w3) & M32, *s3[3:]]
    state = rounds(state, w, 4, 64)
    x = [(v + j[ds.MID + i]) & M32 for i, v in enumerate(state)] + [0x80000000] + [0] * 6 + [256] + [0] * 48
    expand(x, 16, 61)
    a, b, c, d, e, f, g, h = rounds([int(v) for v in ref.H0], x, 0, 60)
    t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + (g ^ (e & (f ^ g))) + int(ref.K[60]) + x[60]
    return (int(ref.H0[7]) + d + t1) & M32


@pytest.mark.parametrize("seed", range(4))
def test_job_words_give_the_last_hash_word(seed):
    rng = random.Random(seed)
    header = rng.randbytes(80) if seed else ref.parse_header_hex(H.GENESIS)
    job = ds.job(header, ref.MAX_TARGET)
    assert job.dtype == np.uint32 and job.shape == (ds.JOB_WORDS,)
    for nonce in [0, 1, 2**32 - 1, H.GENESIS_NONCE] + [rng.randrange(2**32) for _ in range(4)]:
        digest = ref.block_hash(header, nonce)
        assert last_word(job, nonce) == int.from_bytes(digest[28:], "big")
        top = int.from_bytes(digest[28:], "little")  # the kernels compare the byte-swapped word
        assert top == ref.hash_value(digest) >> 224


def test_job_carries_the_targets_top_word():
    header = ref.parse_header_hex(H.BLOCK_125552)
    assert ds.job(header, H.BLOCK_125552_TARGET)[ds.TARGET_HI] == H.BLOCK_125552_TARGET >> 224
    assert ds.job(header, ref.MAX_TARGET)[ds.TARGET_HI] == M32


@pytest.mark.parametrize("target,words", [(-1, "0..2\\*\\*256-1"), (2**256, "0..2\\*\\*256-1"), (True, "must be an int")])
def test_job_rejects_bad_targets(target, words):
    with pytest.raises(ValueError, match=words):
        ds.job(ref.parse_header_hex(H.GENESIS), target)


def test_layout_defines_name_every_index_once():
    defines = dict(d[2:].split("=") for d in ds.layout_defines())
    assert defines["JOB_WORDS"] == str(ds.JOB_WORDS) and defines["JOB_TARGET_HI"] == str(ds.TARGET_HI)
    core = (ds.HERE / ds.CORE_HEADER).read_text()
    used = set(re.findall(r"\bJOB_[A-Z0-9_]+", core)) - {"JOB_PTR"}  # JOB_PTR: a type, from the .cl/.cu
    assert used <= set(defines), used - set(defines)


def test_source_pastes_the_core_header():
    text = ds.source("sha256d.cl")  # the CUDA C is generated whole (kernels/sha256/rounds.py)
    assert "#include" not in text and "sha256d_last_word" in text


class FakeDevice:
    """A launch that returns every nonce of the window whose value passes `hit`, like the kernels do."""

    def __init__(self, hit):
        self.hit, self.calls = hit, []

    def __call__(self, start, count, capacity):
        self.calls.append((start, count, capacity))
        found = [n for n in range(start, start + count) if self.hit(n)]
        return len(found), np.array(found[:capacity], dtype=np.uint32)


def test_collect_runs_once_when_the_hits_fit():
    launch = FakeDevice(lambda n: n % 100 == 0)
    assert ds.collect(launch, 50, 1000) == list(range(100, 1050, 100))
    assert launch.calls == [(50, 1000, ds.HIT_CAPACITY)]


def test_collect_reruns_with_room_for_every_hit():
    launch = FakeDevice(lambda n: True)
    assert ds.collect(launch, 7, 3000, capacity=16) == list(range(7, 3007))
    assert launch.calls == [(7, 3000, 16), (7, 3000, 3000)]


def test_collect_halves_a_window_with_too_many_hits(monkeypatch):
    monkeypatch.setattr(ds, "MAX_CAPACITY", 100)
    launch = FakeDevice(lambda n: True)
    assert ds.collect(launch, 0, 300, capacity=10) == list(range(300))
    assert all(count <= 300 for _, count, _ in launch.calls) and len(launch.calls) > 2


def test_collect_splits_windows_the_hit_counter_could_not_count(monkeypatch):
    monkeypatch.setattr(ds, "MAX_WINDOW", 64)
    launch = FakeDevice(lambda n: n == 200)
    assert ds.collect(launch, 0, 256) == [200]
    assert max(count for _, count, _ in launch.calls) <= 64
