"""SHA-256d mining: a nonce scan of the genesis header on each selected backend/device, next to hashlib.

A case scans a fixed window around the genesis block's real nonce with an easy target, so every call
finds a few hits (HITS_PER_CALL expected) and verification has real work: every hit is re-hashed with
hashlib, the real nonce must be among them, and before timing the backend's scan of a small sub-window
with a still easier target (dozens of hits) must equal `reference.scan` there. The window is sized to
the device kind so that one call lasts about 0.1-0.5 s.

The reference is this machine's hashlib (OpenSSL, SHA-NI where the CPU has it) hashing one large
buffer on one thread: bytes/s / 64 = compressions/s, and / 2 = the sha256d/s that a single-stream
miner built on that SHA-256 would reach (sha256d of a header is two compressions once the midstate is
known).
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench.workloads import Case
from kernels.runtime import cpu
from kernels.sha256 import reference as ref

WORKLOAD = "sha256d"
HEADER = ref.parse_header_hex(
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f61"
    "7fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
)
REAL_NONCE = 2083236893  # the genesis block's nonce: its hash meets every target used here
HITS_PER_CALL = 8  # expected hits of one timed call (the genesis windows give 4-13)
CHECK_HITS = 32  # expected hits of the sub-window compared with reference.scan before timing

# Nonces per call (full, quick) by device kind; the CUDA simulator runs Python per thread.
WINDOW = {"gpu": (1 << 31, 1 << 29), "cpu": (1 << 24, 1 << 22), "simulator": (1 << 7, 1 << 7)}
CHECK_WINDOW = {"gpu": 4096, "cpu": 4096, "simulator": 64}
REFERENCE_BYTES = (1 << 26, 1 << 24)  # hashlib buffer (full, quick)


def target_for(count: int, hits: int) -> int:
    """The target that `hits` nonces out of `count` meet on average."""
    return min(ref.MAX_TARGET, (hits << 256) // count - 1)


def window(count: int) -> int:
    """The window's first nonce: `count` nonces centred on the real nonce."""
    return min(max(0, REAL_NONCE - count // 2), ref.MAX_NONCE + 1 - count)


def scan_case(selected, *, quick: bool, reference: str | None = None) -> Case:
    """Scan `count` nonces of the genesis window on one backend/device (any module with `scan`)."""
    kind = selected.device.kind if selected.device.kind in WINDOW else "cpu"
    count = WINDOW[kind][quick]
    start, target = window(count), target_for(count, HITS_PER_CALL)
    scan, device = selected.module.scan, selected.device.index
    describe = getattr(selected.module, "scan_description", lambda: selected.module.TRAITS.describe(kind))
    checked: dict[str, object] = {}

    def prepare():
        small = CHECK_WINDOW[kind]
        small_start, small_target = window(small), target_for(small, CHECK_HITS)
        got = scan(HEADER, small_start, small, small_target, device=device)
        want = ref.scan(HEADER, small_start, small, small_target)
        checked.update(ok=got == want, hits=len(want), small=small)
        return lambda: scan(HEADER, start, count, target, device=device)

    def verify(hits) -> tuple[bool, str]:
        hits = list(hits)
        bad = [n for n in hits if not start <= n < start + count or not ref.meets_target(HEADER, n, target)]
        ok = checked.get("ok", False) and not bad and REAL_NONCE in hits and hits == sorted(set(hits))
        what = (
            f"{len(hits)} hit(s) in [{start}, {start + count}) re-hashed with hashlib"
            f"{'' if not bad else f', {len(bad)} wrong'}; real nonce {'found' if REAL_NONCE in hits else 'MISSING'}; "
            f"{checked.get('small')} nonces with {checked.get('hits')} hits "
            f"{'equal' if checked.get('ok') else 'DIFFER from'} reference.scan"
        )
        return bool(ok), what

    return Case(
        workload=WORKLOAD,
        backend=selected.backend,
        device=selected.device,
        params={"count": count},
        metric="hashes_per_s",
        unit="H/s",
        work_per_call=count,
        prepare=prepare,
        verify=verify,
        reference=reference,
        extra=lambda seconds: {"kernel": describe()},
        label=f"sha256d scan, {count} nonces of the genesis header",
    )


def hashlib_case(*, quick: bool) -> Case:
    """hashlib SHA-256 of one large buffer on one thread, as the sha256d/s of a single-stream miner."""
    size = REFERENCE_BYTES[quick]
    expected: dict[str, bytes] = {}

    def prepare():
        data = np.random.default_rng(0).bytes(size)
        expected["digest"] = hashlib.sha256(data).digest()
        return lambda: hashlib.sha256(data).digest()

    def verify(digest) -> tuple[bool, str]:
        ok = digest == expected.get("digest")
        return ok, f"digest of {size} bytes {'equals' if ok else 'DIFFERS from'} the untimed first call"

    return Case(
        workload=WORKLOAD,
        backend="hashlib",
        device=cpu.devices()[0],
        params={"count": size // 128, "bytes": size, "threads": 1},
        metric="hashes_per_s",
        unit="H/s",
        work_per_call=size / 128,  # size/64 compressions, two per sha256d
        prepare=prepare,
        verify=verify,
        is_reference=True,
        extra=lambda seconds: {"bytes_per_s": size / seconds, "compressions_per_s": size / 64 / seconds},
        label=f"hashlib SHA-256 of {size >> 20} MiB, 1 thread: bytes/s / 64 / 2 = single-stream sha256d/s",
    )


def cases(selected, *, quick: bool) -> list[Case]:
    reference = hashlib_case(quick=quick)
    return [reference, *(scan_case(s, quick=quick, reference=reference.key) for s in selected)]
