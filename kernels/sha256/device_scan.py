"""Host side shared by the device scan kernels (Numba CUDA, CuPy, OpenCL): the job and the hit buffer.

The job: for an 80-byte header, SHA-256d's first compression (bytes 0..63, the midstate) is the same for
every nonce, and so are the first three rounds of the second compression, the schedule words W16/W17 and
parts of W18/W19 (SHA-256 reads the nonce as message word W3, byte-swapped). `job()` computes these words
once per scan; the kernels keep them in constant memory and start each nonce at round 3.

The hit buffer: a kernel appends candidate nonces through an atomic counter into a small buffer and keeps
counting past its end. `collect()` reruns a window whose hits did not fit (with room for all of them, or
in halves when there are very many), so an easy target loses nothing and a real one costs one launch.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import numpy as np

from kernels.sha256 import reference as ref

# Layout of the job words the kernels read (indices into the uint32 array `job()` returns).
MID = 0  # 8 words: midstate of the header's first 64 bytes
TAIL = 8  # 3 words: W0..W2 of the second block (merkle-root tail, time, bits)
W16, W17 = 11, 12  # schedule words that do not depend on the nonce
W18_PART = 13  # W18 = W18_PART + ssig0(W3)
W19_PART = 14  # W19 = W19_PART + W3
STATE3 = 15  # 6 words: a, b, c, e, f, g after rounds 0..2 of the second block
A4_PART, E4_PART = 21, 22  # after round 3: a = A4_PART + W3, e = E4_PART + W3 (d, h are then dropped)
TARGET_HI = 23  # the target's most significant 32 bits (its little-endian top word)
JOB_WORDS = 24

HERE = Path(__file__).resolve().parent
CORE_HEADER = "sha256d_core.h"

HIT_CAPACITY = 1024  # hits one launch keeps; more only with easy targets
MAX_CAPACITY = 1 << 22  # a rerun never allocates more than this (16 MiB); larger windows are halved
MAX_WINDOW = 1 << 31  # nonces per `launch` call, so that the uint32 hit counter cannot wrap


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def _ssig0(x: int) -> int:
    return _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)


def _ssig1(x: int) -> int:
    return _rotr(x, 17) ^ _rotr(x, 19) ^ (x >> 10)


def _round_t1(e: int, f: int, g: int, h: int, kw: int) -> int:
    return (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + kw) & 0xFFFFFFFF


def _round_t2(a: int, b: int, c: int) -> int:
    return ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & 0xFFFFFFFF


def nonce_word(nonce: int) -> int:
    """The message word W3 that a nonce becomes (the header stores it little-endian)."""
    return struct.unpack(">I", struct.pack("<I", nonce))[0]


def job(header: bytes, target: int) -> np.ndarray:
    """The nonce-independent words of a scan (layout above), as uint32[JOB_WORDS]."""
    header = ref.validate_header(header)
    target = ref.validate_target(target)
    mid = [int(x) for x in ref.midstate(header)]
    w = [int(x) for x in ref.tail_words(header)] + [0, 0x80000000] + [0] * 10 + [640]
    w16 = (_ssig1(w[14]) + w[9] + _ssig0(w[1]) + w[0]) & 0xFFFFFFFF
    w17 = (_ssig1(w[15]) + w[10] + _ssig0(w[2]) + w[1]) & 0xFFFFFFFF
    w18_part = (_ssig1(w16) + w[11] + w[2]) & 0xFFFFFFFF
    w19_part = (_ssig1(w17) + w[12] + _ssig0(w[4])) & 0xFFFFFFFF
    a, b, c, d, e, f, g, h = mid
    for t in range(3):
        t1 = _round_t1(e, f, g, h, int(ref.K[t]) + w[t])
        t2 = _round_t2(a, b, c)
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
    t1_part = _round_t1(e, f, g, h, int(ref.K[3]))  # round 3 without its W3
    a4_part = (t1_part + _round_t2(a, b, c)) & 0xFFFFFFFF
    e4_part = (d + t1_part) & 0xFFFFFFFF
    words = mid + w[:3] + [w16, w17, w18_part, w19_part, a, b, c, e, f, g, a4_part, e4_part, target >> 224]
    return np.array(words, dtype=np.uint32)


def source(name: str) -> str:
    """A kernel source beside this file with the shared core header pasted in place of its #include.

    Pasting (not -I) keeps the compilers' caches honest: CuPy and PoCL key their binary caches on the
    source text, which then changes whenever the header does.
    """
    include = f'#include "{CORE_HEADER}"'
    text = (HERE / name).read_text(encoding="utf-8")
    if include not in text:
        raise ValueError(f"{name} does not include {CORE_HEADER}")
    return text.replace(include, (HERE / CORE_HEADER).read_text(encoding="utf-8"))


def layout_defines() -> list[str]:
    """The job layout as -D options, so the C sources and this module share one definition."""
    names = ("MID", "TAIL", "W16", "W17", "W18_PART", "W19_PART", "STATE3", "A4_PART", "E4_PART", "TARGET_HI")
    return [f"-DJOB_{name}={globals()[name]}" for name in names] + [f"-DJOB_WORDS={JOB_WORDS}"]


Launch = Callable[[int, int, int], tuple[int, np.ndarray]]


def collect(launch: Launch, start: int, count: int, capacity: int = HIT_CAPACITY) -> list[int]:
    """Candidate nonces of [start, start+count) from `launch(start, count, capacity) -> (found, hits)`.

    `found` is the kernel's hit counter (it may exceed `capacity`), `hits` holds the first
    min(found, capacity) candidates. A window with more candidates than room is run again.
    """
    if count > MAX_WINDOW:
        half = count // 2
        return collect(launch, start, half, capacity) + collect(launch, start + half, count - half, capacity)
    found, hits = launch(start, count, capacity)
    if found <= capacity:
        return [int(n) for n in hits[:found]]
    if found <= MAX_CAPACITY:
        found, hits = launch(start, count, found)
        return [int(n) for n in hits[:found]]
    half = count // 2
    return collect(launch, start, half, capacity) + collect(launch, start + half, count - half, capacity)
