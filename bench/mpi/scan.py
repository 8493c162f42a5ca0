"""SHA-256d across ranks: one header's nonce space split into work units, scanned in one timed window.

Positions: a 64-bit position p is nonce `p mod 2**32` of the genesis header whose time field is rolled
by `p >> 32` seconds (what a miner does when a header's 2**32 nonces run out: one H100 scans them in
about half a second). Unit u covers positions [base + u*unit, base + (u+1)*unit); rank r scans units
r, r+N, r+2N... (N ranks), so the ranks share out one header's nonces and whatever ranks run ahead go
on into the rolled headers. `unit` is a power of two (no unit straddles two headers) sized so that one
unit lasts about 1% of the window on the fastest rank; `base` puts the genesis block's real nonce in
the last rank's first unit, a hit known in advance that must travel from that rank to rank 0.

Timing: after a barrier each rank scans units until its MPI.Wtime clock passes the window, so every
rank's window starts together and ends within one unit of the others; its rate is hashes / its own
elapsed time, and the job's rate is the sum over ranks. The target is the header's own (difficulty
1: the shares a pool counts). Rank 0 re-hashes every hit of every rank with hashlib and checks that
it lies in a unit that rank was given and scanned.
"""

from __future__ import annotations

import struct
import time
from dataclasses import asdict, dataclass

from bench.workloads import sha256d as W
from kernels.sha256 import reference as ref

UNITS_PER_WINDOW = 100  # a unit lasts ~1% of the window on the fastest rank
UNIT_MIN, UNIT_MAX = 64, 1 << 32
CALIBRATE = {"gpu": 1 << 28, "cpu": 1 << 22, "simulator": 1 << 7}  # nonces of the rate estimate
TIME_OFFSET = 68  # the header's time field (little-endian uint32)


def rolled(header: bytes, roll: int) -> bytes:
    """The header with its time field moved by `roll` seconds (mod 2**32)."""
    header = ref.validate_header(header)
    (seconds,) = struct.unpack_from("<I", header, TIME_OFFSET)
    return header[:TIME_OFFSET] + struct.pack("<I", (seconds + roll) & ref.MAX_NONCE) + header[TIME_OFFSET + 4:]


@dataclass(frozen=True)
class Layout:
    """Which nonces each rank scans, and against which target, in a window of `window_s` seconds."""

    ranks: int
    unit: int  # nonces per work unit, a power of two
    base: int  # position of unit 0
    window_s: float
    target: int

    def unit_of(self, rank: int, i: int) -> tuple[int, int]:
        """(roll, first nonce) of rank `rank`'s i-th unit."""
        position = self.base + (i * self.ranks + rank) * self.unit
        return position >> 32, position & ref.MAX_NONCE

    def owner(self, roll: int, nonce: int) -> tuple[int, int]:
        """(rank, i): who scans the unit that holds this nonce of this rolled header, as its i-th unit."""
        g = ((roll << 32) + nonce - self.base) // self.unit
        return g % self.ranks, g // self.ranks

    def to_dict(self) -> dict:
        return {**asdict(self), "target": ref.target_hex(self.target)}


def layout(rates: list[float], window_s: float, target: int | None = None) -> Layout:
    """The layout for ranks with these estimated rates (H/s)."""
    ranks = len(rates)
    want = max(rates) * window_s / UNITS_PER_WINDOW
    unit = UNIT_MIN
    while unit * 2 <= min(want, UNIT_MAX):
        unit *= 2
    base = (W.REAL_NONCE // unit - (ranks - 1)) * unit  # may be negative: rolled back a few seconds
    return Layout(ranks, unit, base, float(window_s), ref.header_target(W.HEADER) if target is None else target)


def warm_up(scan, device: int, kind: str) -> dict:
    """Compile, check against reference.scan on a small window, and estimate the rate (untimed)."""
    small = W.CHECK_WINDOW.get(kind, W.CHECK_WINDOW["cpu"])
    start, target = W.window(small), W.target_for(small, W.CHECK_HITS)
    t0 = time.perf_counter()
    got = scan(W.HEADER, start, small, target, device=device)
    first_call_s = time.perf_counter() - t0
    want = ref.scan(W.HEADER, start, small, target)
    count = CALIBRATE.get(kind, CALIBRATE["cpu"])
    t0 = time.perf_counter()
    scan(W.HEADER, W.window(count), count, ref.header_target(W.HEADER), device=device)
    rate = count / max(time.perf_counter() - t0, 1e-9)
    return {"check_ok": got == want, "check_nonces": small, "check_hits": len(want), "first_call_s": first_call_s,
            "rate_estimate": rate}


def scan_window(scan, device: int, plan: Layout, rank: int, clock) -> dict:
    """Scan this rank's units until `clock` (MPI.Wtime) passes the window: what was done, the hits, and
    the CPU time the process got meanwhile (all its threads), which shows how busy the machine was."""
    t0, cpu0 = clock(), time.process_time()
    hits, unit_rates, i = [], [], 0
    while True:
        roll, first = plan.unit_of(rank, i)
        u0 = clock()
        found = scan(rolled(W.HEADER, roll), first, plan.unit, plan.target, device=device)
        u1 = clock()
        hits += [(roll, int(n)) for n in found]
        unit_rates.append(plan.unit / max(u1 - u0, 1e-9))
        i += 1
        if u1 - t0 >= plan.window_s:
            break
    return {"units": i, "hashes": i * plan.unit, "seconds": u1 - t0, "cpu_s": time.process_time() - cpu0,
            "unit_rates": unit_rates, "hits": hits}


def check_hits(plan: Layout, rank: int, done: dict) -> tuple[bool, str, list[dict]]:
    """Rank 0's check of one rank's window: every hit re-hashed with hashlib, inside a unit it scanned;
    the last rank must have found the genesis nonce. Returns (ok, what was checked, hits as dicts)."""
    hits, wrong = [], 0
    for roll, nonce in done["hits"]:
        header = rolled(W.HEADER, roll)
        digest = ref.block_hash(header, nonce)
        owner, i = plan.owner(roll, nonce)
        good = owner == rank and 0 <= i < done["units"] and ref.hash_value(digest) <= plan.target
        wrong += not good
        hits.append({"rank": rank, "time_roll": roll, "nonce": nonce, "hash": ref.display_hex(digest), "ok": good})
    owes_genesis = rank == plan.ranks - 1 and done["units"] > 0
    genesis = any(h["time_roll"] == 0 and h["nonce"] == W.REAL_NONCE for h in hits)
    ok = not wrong and (genesis or not owes_genesis)
    what = (f"{len(hits)} hit(s) of {done['units']} unit(s) x {plan.unit} nonces re-hashed with hashlib at rank 0"
            + (f", {wrong} WRONG" if wrong else "")
            + ("" if not owes_genesis else f"; genesis nonce {W.REAL_NONCE} {'found' if genesis else 'MISSING'}"))
    return ok, what, hits
