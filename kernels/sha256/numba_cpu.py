"""SHA-256 and the SHA-256d nonce scan on the CPU with Numba: one uint32 lane per vector slot, all cores.

The hot code is straight-line SHA-256 for one lane inside a LANES-iteration lane loop, which LLVM's loop
vectoriser turns into full-width vector code (one uint32 lane per nonce or message). LANES follows the
CPU's vector width (`kernels.runtime.cpu.vector_bits`): 16 on AVX-512 (zmm), 8 on AVX2, 4 on NEON/SSE (on
AArch64 LLVM leaves the 4-lane loop scalar; there the SHA2 unit runs instead). Writing 125 rounds out
by hand would be unreadable, so a small generator below emits them from the FIPS 180-4 round function
and folds as it goes:
- values known when the code is generated (padding words, K, the second hash's initial state) become
  literals;
- values that depend on the header but not on the nonce (rounds 0-2 of the header's second block,
  schedule words W16 and W17, the constant parts of later words) go into `_invariants`, run once per
  scan, next to the midstate;
- only what depends on the nonce is computed per lane.
The second hash stops after round 60: that round's e becomes the last state word H7, which is the top
32 bits of the little-endian hash value, so lanes whose top word exceeds the target's are rejected
without rounds 61-63. Survivors are re-hashed with hashlib (`reference.verified_hits`).

Numba widens uint32 arithmetic to int64, so every generated value is cut back with `u32(...)`; LLVM
then emits 32-bit lanes, `vprold` for the rotate pattern and `vpternlogd` for Ch, Maj and the sigmas.
Where the CPU has a SHA-256 unit (x86 SHA-NI, Arm SHA2) and its vectors are narrower than 512 bits, the
scan runs on the unit instead, two nonces at a time per core (`_scan_range_sha_unit`, on
kernels/sha256/sha_ni.py or arm_sha2.py; see `scan_kernel`): on x86 it is faster than 8 or 4 lanes; on Arm
(4 lanes of NEON) that is the count of instructions, not yet a timing. hash_batch runs on the unit wherever
there is one, two messages at a time (`_hash_messages_sha_unit`, `batch_kernel`).

The generated functions are compiled with this module's file name, so Numba's on-disk cache
(cache=True) keys them on this file like the handwritten ones. The kernels release the GIL and run on
a small thread pool, one part of the window (or of the batch) per task.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import numpy as np
from numba import get_num_threads, njit

from kernels.runtime import Traits, cpu, parse_device_index
from kernels.runtime.daemon_pool import DaemonPool
from kernels.sha256 import arm_sha2, sha_ni
from kernels.sha256 import reference as ref

TRAITS = Traits("cpu", kernel="Numba: one uint32 lane per vector slot, or the SHA-256 unit (SHA-NI, Arm SHA2) two "
                "nonces at a time; all cores")

LANES = cpu.vector_bits() // 32  # uint32 lanes in one vector register of this CPU
u32 = np.uint32  # the cast that keeps Numba's widened integer arithmetic at 32 bits
_MASK = 0xFFFFFFFF
_HIT_SLOTS = 256  # candidate slots per kernel call; a call that fills them returns and is resumed
_TASKS_PER_THREAD = 4  # parts per thread, so a thread slowed by other load does not hold up the rest


def available() -> tuple[bool, str]:
    return True, ""


def devices():
    return cpu.devices()


# --- the generator: SHA-256 rounds as Python source, folded into literal / per-header / per-lane code ---


def _rotr(x: str, n: int) -> str:
    return f"(({x} >> {n}) | ({x} << {32 - n}))"


# name -> source of a 32-bit function of its arguments; compiled once each and called by generated code.
_FUNCTIONS = {
    "big_sigma0": lambda a: f"{_rotr(a, 2)} ^ {_rotr(a, 13)} ^ {_rotr(a, 22)}",
    "big_sigma1": lambda e: f"{_rotr(e, 6)} ^ {_rotr(e, 11)} ^ {_rotr(e, 25)}",
    "small_sigma0": lambda w: f"{_rotr(w, 7)} ^ {_rotr(w, 18)} ^ ({w} >> 3)",
    "small_sigma1": lambda w: f"{_rotr(w, 17)} ^ {_rotr(w, 19)} ^ ({w} >> 10)",
    "ch": lambda e, f, g: f"{g} ^ ({e} & ({f} ^ {g}))",
    "maj": lambda a, b, c: f"({a} & {b}) | ({c} & ({a} | {b}))",
    "bswap": lambda x: f"({x} >> 24) | (({x} >> 8) & 0xFF00) | (({x} << 8) & 0xFF0000) | (({x} << 24) & 0xFF000000)",
}


class _Sum:
    """A sum mod 2**32 not written out yet: a literal plus named terms (kept lazy so constants merge)."""

    __slots__ = ("lit", "names", "atom")

    def __init__(self, lit: int = 0, names=()):
        self.lit, self.names, self.atom = lit & _MASK, tuple(names), None


def _add(*values) -> _Sum:
    lit, names = 0, []
    for v in values:
        v = v.atom if isinstance(v, _Sum) and v.atom is not None else v
        if isinstance(v, int):
            lit += v
        elif isinstance(v, str):
            names.append(v)
        else:
            lit += v.lit
            names += v.names
    return _Sum(lit, names)


class _Code:
    """Generated lines, in `pre` (once per header) or `body` (per lane); an atom is an int or a name."""

    def __init__(self, inputs: dict[str, str]):
        self.kind = dict(inputs)  # name -> "inv" (the same for every nonce) | "var" (per lane)
        self.pre: list[str] = []
        self.body: list[str] = []
        self.exported: list[str] = []  # invariants that the lane code reads

    def _emit(self, expr: str, deps, kind: str) -> str:
        name = f"{kind[0]}{len(self.kind)}"
        self.kind[name] = kind
        (self.pre if kind == "inv" else self.body).append(f"{name} = {expr}")
        if kind == "var":
            self.exported += [d for d in deps if self.kind.get(d) == "inv" and d not in self.exported]
        return name

    def _kind(self, atoms) -> str:
        return "var" if any(self.kind.get(a) == "var" for a in atoms) else "inv"

    def atom(self, value):
        """Write a lazy sum out, its per-header part first (so that part is computed once per header)."""
        if not isinstance(value, _Sum):
            return value
        if value.atom is None:
            inv = [n for n in value.names if self.kind[n] == "inv"]
            var = [n for n in value.names if self.kind[n] == "var"]
            head = [value.lit] if value.lit or not value.names else []
            if var and (inv or head):
                head, inv = [self.atom(_Sum(value.lit, inv))], []
            terms = head + inv + var
            text = f"u32({' + '.join(map(str, terms))})"
            value.atom = terms[0] if len(terms) == 1 else self._emit(text, terms, self._kind(terms))
        return value.atom

    def call(self, function: str, *args):
        """One of `_FUNCTIONS` on atoms: folded to a literal when every input is known."""
        atoms = [self.atom(a) for a in args]
        if all(isinstance(a, int) for a in atoms):
            return eval(_FUNCTIONS[function](*map(str, atoms))) & _MASK  # the same source, on Python ints
        text = ", ".join(f"u32({a})" if isinstance(a, int) else a for a in atoms)
        return self._emit(f"{function}({text})", atoms, self._kind(atoms))


def _rounds(code: _Code, state, words, rounds: int = 64) -> list:
    """SHA-256 rounds 0..rounds-1 from `state` with message `words` (16 atoms); the state after them."""
    w = list(words)
    a, b, c, d, e, f, g, h = state
    for t in range(rounds):
        if t >= 16:
            s0, s1 = code.call("small_sigma0", w[t - 15]), code.call("small_sigma1", w[t - 2])
            w.append(code.atom(_add(s1, w[t - 7], s0, w[t - 16])))
        t1 = code.atom(_add(h, code.call("big_sigma1", e), code.call("ch", e, f, g), int(ref.K[t]), w[t]))
        t2 = _add(code.call("big_sigma0", a), code.call("maj", a, b, c))
        a, b, c, d, e, f, g, h = _add(t1, t2), a, b, c, _add(d, t1), e, f, g
    return [a, b, c, d, e, f, g, h]


_SCOPE = {"__name__": __name__, "np": np, "u32": u32, "LANES": LANES}


def _compile(name: str, source: str):
    """Compile generated source as if it were written in this file (so that cache=True works)."""
    exec(compile(source, __file__, "exec"), _SCOPE)
    _SCOPE[name] = njit(cache=True, nogil=True)(_SCOPE[name])
    return _SCOPE[name]


def _compile_functions() -> None:
    for name, source in _FUNCTIONS.items():
        args = "abc"[: source.__code__.co_argcount]
        _compile(name, f"def {name}({', '.join(args)}):\n    return u32({source(*args)})\n")


_compile_functions()


def _indent(lines, depth: int) -> str:
    return "\n".join(" " * depth + line for line in lines)


def _generate_scan():
    """`_invariants(mid, tail)` -> per-header words; `_lanes(inv, base, out)`: top words of 16 nonces."""
    mid, tail = [f"m{i}" for i in range(8)], [f"t{i}" for i in range(3)]
    code = _Code({**{n: "inv" for n in mid + tail}, "nonce_word": "var"})
    # The header's second block: merkle tail, time, bits, nonce (big-endian words), then the padding.
    block = [*tail, "nonce_word", 0x80000000, *([0] * 10), 80 * 8]
    first = [code.atom(_add(m, s)) for m, s in zip(mid, _rounds(code, mid, block))]
    # The second hash, of the 32-byte digest: its padding is literal; stop after round 60 (e -> H7).
    state = _rounds(code, [int(x) for x in ref.H0], [*first, 0x80000000, *([0] * 6), 256], rounds=61)
    h7 = code.atom(_add(state[4], int(ref.H0[7])))
    exported = code.exported
    invariants = _compile("_invariants", f"""
def _invariants(mid, tail):
    {", ".join(mid)} = {", ".join(f"mid[{i}]" for i in range(8))}
    {", ".join(tail)} = tail[0], tail[1], tail[2]
{_indent(code.pre, 4)}
    return np.array([{", ".join(exported)}], dtype=np.uint32)
""")
    lanes = _compile("_lanes", f"""
def _lanes(inv, base, out):
    {", ".join(exported)} = {", ".join(f"inv[{k}]" for k in range(len(exported)))}
    for lane in range(LANES):
        nonce_word = bswap(u32(base + lane))
{_indent(code.body, 8)}
        out[lane] = bswap({h7})
""")
    return invariants, lanes


def _generate_compress():
    """`_compress_lanes(state, block)`: one compression of 16 blocks; lane l's word i is at [i * LANES + l].

    Flat arrays with a constant stride let LLVM prove the lanes independent and vectorise the lane loop.
    """
    state, words = [f"s{i}" for i in range(8)], [f"w{i}" for i in range(16)]
    code = _Code({n: "var" for n in state + words})
    final = [code.atom(_add(s, r)) for s, r in zip(state, _rounds(code, state, words))]
    return _compile("_compress_lanes", f"""
def _compress_lanes(state, block):
    for lane in range(LANES):
{_indent([f"s{i} = state[{i} * LANES + lane]" for i in range(8)], 8)}
{_indent([f"w{i} = block[{i} * LANES + lane]" for i in range(16)], 8)}
{_indent(code.body, 8)}
{_indent([f"state[{i} * LANES + lane] = {v}" for i, v in enumerate(final)], 8)}
""")


_invariants, _lanes = _generate_scan()
_compress_lanes = _generate_compress()
_bswap = _SCOPE["bswap"]


# --- running parts of the work on all cores ---


@lru_cache(maxsize=1)
def _pool() -> DaemonPool:
    """Daemon workers, one per Numba thread, started on the first parallel call (see daemon_pool.py)."""
    return DaemonPool(get_num_threads(), "numba-cpu")


def _in_parts(work, first: int, last: int, quantum: int, smallest: int) -> list:
    """work(lo, hi) over [first, last) cut into a few parts per thread, each a multiple of `quantum`
    (but the last) and at least `smallest` long; a single part runs in the calling thread."""
    units = -(-(last - first) // quantum)
    parts = max(1, min(units, get_num_threads() * _TASKS_PER_THREAD, (last - first) // smallest))
    bounds = [min(last, first + quantum * (units * p // parts)) for p in range(parts + 1)]
    if parts == 1:
        return [work(first, last)]
    return list(_pool().map(work, bounds[:-1], bounds[1:]))


# --- the scan ---


@njit(cache=True, nogil=True)
def _scan_range(inv, start, end, top, hits):
    """Nonces in [start, end) whose hash's top 32 bits are <= top, into `hits`.

    Returns (how many, where it stopped): end, or the first nonce it had no slot for.
    """
    words = np.empty(LANES, np.uint32)
    n = 0
    for pos in range(start, end, LANES):
        _lanes(inv, u32(pos & 0xFFFFFFFF), words)
        low = words[0]
        for lane in range(1, LANES):
            low = min(low, words[lane])
        if low <= top:
            for lane in range(LANES):
                nonce = pos + lane
                if nonce < end and words[lane] <= top:
                    if n == hits.shape[0]:
                        return n, nonce
                    hits[n] = nonce
                    n += 1
    return n, end


_H0 = tuple(u32(x) for x in ref.H0)
_Z = u32(0)  # a zero message word
_PAD = u32(0x80000000)  # the padding bit after a message that ends on a word


@njit(inline="always")
def _header_tail(t0, t1, t2, nonce):
    """The header's second block with `nonce`: its last 16 bytes, then the padding of an 80-byte message."""
    return (t0, t1, t2, _bswap(u32(nonce & 0xFFFFFFFF)), _PAD, _Z, _Z, _Z, _Z, _Z, _Z, _Z, _Z, _Z, _Z, u32(640))


@njit(inline="always")
def _digest_block(d):
    """The one block of the second hash: the 32-byte digest `d` (eight words), then its padding."""
    return (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], _PAD, _Z, _Z, _Z, _Z, _Z, _Z, u32(256))


# the SHA-256 unit this CPU's architecture has (the scan and hash_batch below call it by this name)
_unit = arm_sha2 if platform.machine().lower() in arm_sha2.ARM_MACHINES else sha_ni


@njit(cache=True, nogil=True)
def _scan_range_sha_unit(mid, tail, start, end, top, hits):
    """_scan_range on the SHA-256 unit, two nonces at a time with their rounds interleaved (three or four
    ran slower on Zen 3's SHA-NI): both blocks' padding is literal, and the second hash stops at H7."""
    state = (mid[0], mid[1], mid[2], mid[3], mid[4], mid[5], mid[6], mid[7])
    t0, t1, t2 = tail[0], tail[1], tail[2]
    n = 0
    for nonce in range(start, end, 2):
        a, b = _unit.compress_each(state, (_header_tail(t0, t1, t2, nonce), _header_tail(t0, t1, t2, nonce + 1)))
        words = _unit.last_word_each(_H0, (_digest_block(a), _digest_block(b)))
        # one branch on both words: a test per nonce let LLVM sink the second nonce's rounds into its own
        # branch, one stream after the other (seen in the AArch64 assembly)
        if min(_bswap(words[0]), _bswap(words[1])) <= top:
            for i in range(2):
                if nonce + i < end and _bswap(words[i]) <= top:
                    if n == hits.shape[0]:
                        return n, nonce + i
                    hits[n] = nonce + i
                    n += 1
    return n, end


_UNITS = {unit.KERNEL: unit for unit in (sha_ni, arm_sha2)}  # the SHA-256 unit kernels by name
SCAN_KERNELS = ("lanes", *_UNITS)


def kernel_available(kernel: str) -> bool:
    """Whether Numba can build scan kernel `kernel` (one of SCAN_KERNELS) here."""
    return kernel == "lanes" or (kernel == _unit.KERNEL and _unit.available())


def _chosen_kernel() -> str:
    """SITEBENCH_SHA256_CPU=lanes|sha-ni|arm-sha2 (a unit only where the CPU has it), or '' where unset."""
    chosen = os.environ.get("SITEBENCH_SHA256_CPU", "").strip().lower()
    if chosen and chosen not in SCAN_KERNELS:
        raise ValueError(f"SITEBENCH_SHA256_CPU={chosen!r} is not one of {', '.join(SCAN_KERNELS)}; unset it or "
                         "pick one")
    if chosen and not kernel_available(chosen):
        raise ValueError(f"SITEBENCH_SHA256_CPU={chosen}, but Numba does not compile for {_UNITS[chosen].INSTRUCTIONS} "
                         "on this CPU; unset it")
    return chosen


def scan_kernel() -> str:
    """Which scan runs here: the SHA-256 unit ('sha-ni' on x86, 'arm-sha2' on AArch64) where Numba compiles
    for it and the vectors are narrower than 512 bits (there two nonces per core on the unit beat 8 or 4
    lanes; on Zen 4 16 lanes beat it), else 'lanes'. SITEBENCH_SHA256_CPU chooses instead."""
    chosen = _chosen_kernel()
    if chosen:
        return chosen
    return _unit.KERNEL if LANES < 16 and kernel_available(_unit.KERNEL) else "lanes"


def batch_kernel() -> str:
    """Which kernel hash_batch runs here: the SHA-256 unit wherever Numba compiles for it, 512-bit vectors
    or not (on Zen 4 it beat the 16 lanes on every message length measured: the lanes stage each block word
    by word, the unit loads whole blocks), else 'lanes'. SITEBENCH_SHA256_CPU chooses for both."""
    chosen = _chosen_kernel()
    if chosen:
        return chosen
    return _unit.KERNEL if kernel_available(_unit.KERNEL) else "lanes"


def scan_description() -> str:
    """The scan that runs here, for the run file."""
    if scan_kernel() != "lanes":  # the one unit this CPU has (scan_kernel refuses the other)
        return f"Numba on {_unit.INSTRUCTIONS}: two nonces interleaved per core, all cores"
    return f"Numba: {LANES} uint32 lanes per vector, one nonce per lane, all cores"


def scan(header: bytes, start: int, count: int, target: int, *, device: int = 0) -> list[int]:
    """Every nonce in [start, start+count) whose sha256d(header with that nonce) <= target, sorted."""
    parse_device_index(device, devices(), "numba-cpu")
    header = ref.validate_header(header)
    ref.validate_range(start, count)
    target = ref.validate_target(target)
    mid, tail = ref.midstate(header), ref.tail_words(header)
    top = u32(target >> 224)
    if scan_kernel() != "lanes":
        scan_part, quantum = lambda lo, hi, hits: _scan_range_sha_unit(mid, tail, lo, hi, top, hits), 1
    else:
        inv = _invariants(mid, tail)
        scan_part, quantum = lambda lo, hi, hits: _scan_range(inv, lo, hi, top, hits), LANES

    def part(lo: int, hi: int) -> list[int]:
        hits, found = np.empty(_HIT_SLOTS, np.int64), []
        while lo < hi:
            n, lo = scan_part(lo, hi, hits)
            found += hits[:n].tolist()
        return found

    candidates = [n for found in _in_parts(part, start, start + count, quantum, 1 << 16) for n in found]
    return ref.verified_hits(header, candidates, target, start, count)


# --- hash_batch: 16 messages per lane group, padded on the fly ---


@njit(inline="always")
def _block_count(length):
    """64-byte blocks of a padded message of `length` bytes (its 0x80 byte and 8-byte length included)."""
    return (length + 72) // 64


@njit(inline="always")
def _whole_block(length, j):
    """Whether block j of a message of `length` bytes is 64 of its bytes (no padding in it)."""
    return 64 * j + 64 <= length


@njit(cache=True, nogil=True)
def _load_block(data, words, offset, length, j, block, lane):
    """Write block j of the padded message data[offset:offset+length] into lane `lane` of `block`.

    `words` is `data` read as native uint32: a whole block of a message at a 4-byte aligned offset is
    16 byte-swapped loads from it (the common case); otherwise the block is assembled byte by byte.
    """
    first = 64 * j
    if _whole_block(length, j) and offset & 3 == 0:  # 16 words straight from the native-word view
        base = (offset + first) >> 2
        for i in range(16):
            block[i * LANES + lane] = _bswap(words[base + i])
        return
    for i in range(16):
        pos = first + 4 * i
        word = 0
        if pos + 4 <= length:
            p = offset + pos
            word = (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]
        elif pos <= length:  # the word where the message ends and the 0x80 padding byte goes
            for k in range(4):
                byte = data[offset + pos + k] if pos + k < length else (0x80 if pos + k == length else 0)
                word = (word << 8) | byte
        block[i * LANES + lane] = u32(word)
    if (length + 8) >> 6 == j:  # the last block ends with the message length in bits
        block[14 * LANES + lane] = u32((8 * length) >> 32)
        block[15 * LANES + lane] = u32((8 * length) & 0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _hash_groups(data, words, offsets, lengths, order, h0, out, first, last):
    """SHA-256 of the messages of lane groups [first, last) into out[i, :].

    Group g holds order[16g .. 16g+15]; `order` sorts messages by block count, so a group's lanes
    mostly need the same number of blocks. Spare lanes repeat the last message.
    """
    n = order.shape[0]
    state = np.empty(8 * LANES, np.uint32)
    block = np.zeros(16 * LANES, np.uint32)
    members = np.empty(LANES, np.int64)
    blocks = np.empty(LANES, np.int64)
    for g in range(first, last):
        most = 0
        for lane in range(LANES):
            m = order[min(g * LANES + lane, n - 1)]
            members[lane] = m
            blocks[lane] = _block_count(lengths[m])
            most = max(most, blocks[lane])
            for i in range(8):
                state[i * LANES + lane] = h0[i]
        for j in range(most):
            for lane in range(LANES):
                if j < blocks[lane]:
                    _load_block(data, words, offsets[members[lane]], lengths[members[lane]], j, block, lane)
            _compress_lanes(state, block)
            for lane in range(LANES):
                if j == blocks[lane] - 1:
                    for i in range(8):
                        out[members[lane], i] = state[i * LANES + lane]


@njit(inline="always")
def _as_block(v):
    """The 16 words of a (strided) block view as the tuple the SHA-256 unit takes."""
    return (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15])


@njit(cache=True, nogil=True)
def _hash_messages_sha_unit(data, words, offsets, lengths, h0, out, first, last):
    """SHA-256 of messages [first, last) into out[i, :] on the SHA-256 unit, two at a time with their rounds
    interleaved while both have blocks left; the chaining values stay in out. A whole block (64 bytes of
    the message, at any address) is loaded by the unit itself (compress_bytes_into); the padded last ones
    come through _load_block (lanes 0 and 1) and compress_into."""
    block = np.zeros(16 * LANES, np.uint32)
    x, y = block[0::LANES], block[1::LANES]
    for m in range(first, last, 2):
        k = min(m + 1, last - 1)  # an odd last message is paired with itself
        state_m, state_k = out[m], out[k]
        state_m[:] = h0
        state_k[:] = h0
        paired = min(_block_count(lengths[m]), _block_count(lengths[k])) if k != m else 0
        for j in range(paired):
            if _whole_block(lengths[m], j) and _whole_block(lengths[k], j):
                _unit.compress_bytes_into((state_m, state_k), data, (offsets[m] + 64 * j, offsets[k] + 64 * j))
                continue
            _load_block(data, words, offsets[m], lengths[m], j, block, 0)
            _load_block(data, words, offsets[k], lengths[k], j, block, 1)
            _unit.compress_into((state_m, state_k), (_as_block(x), _as_block(y)))
        for which in range(1 if k == m else 2):  # the longer message's blocks, alone
            i = m if which == 0 else k
            state = out[i]
            for j in range(paired, _block_count(lengths[i])):
                if _whole_block(lengths[i], j):
                    _unit.compress_bytes_into((state,), data, (offsets[i] + 64 * j,))
                    continue
                _load_block(data, words, offsets[i], lengths[i], j, block, 0)
                _unit.compress_into((state,), (_as_block(x),))


def _join(messages) -> tuple[bytes | np.ndarray, np.ndarray]:
    """All messages back to back and their lengths in bytes; ValueError names a message that is not bytes."""
    if isinstance(messages, (bytes, bytearray, memoryview, str)):
        raise ValueError("hash_batch takes a sequence of messages; wrap a single message in a list: [message]")
    if isinstance(messages, np.ndarray) and messages.ndim == 2 and messages.dtype == np.uint8:
        rows = np.ascontiguousarray(messages)  # equal-length messages, one per row: no per-message copies
        return rows.reshape(-1), np.full(rows.shape[0], rows.shape[1], np.int64)
    try:
        items = messages if isinstance(messages, list) else list(messages)
    except TypeError:
        raise ValueError(f"hash_batch takes a sequence of bytes-like messages, got {type(messages).__name__}") from None
    try:
        joined = b"".join(items)
    except TypeError:
        for i, m in enumerate(items):
            try:
                memoryview(m)
            except TypeError:
                raise ValueError(
                    f"message {i} is {type(m).__name__}, not bytes-like; give bytes (encode text with text.encode())"
                ) from None
        raise
    lengths = np.fromiter(map(len, items), np.int64, len(items))
    if lengths.sum() != len(joined):  # buffers whose len() counts items, not bytes (arrays, cast views)
        lengths = np.fromiter((memoryview(m).nbytes for m in items), np.int64, len(items))
    return joined, lengths


def hash_batch(messages, *, device: int = 0) -> list[bytes]:
    """hashlib.sha256(m).digest() for every message, of any lengths, in parallel over messages.

    `messages`: a sequence of bytes-like objects, or a 2-D uint8 array whose rows are the messages.
    """
    parse_device_index(device, devices(), "numba-cpu")
    joined, lengths = _join(messages)
    if not len(lengths):
        return []
    data = np.frombuffer(joined, np.uint8)
    words = np.frombuffer(joined, np.uint32, count=len(joined) // 4)
    offsets = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    out = np.empty((len(lengths), 8), np.uint32)
    if batch_kernel() != "lanes":
        _in_parts(lambda lo, hi: _hash_messages_sha_unit(data, words, offsets, lengths, ref.H0, out, lo, hi),
                  0, len(lengths), 1, 1024)
        return ref.digests_from_states(out)
    order = np.argsort(_block_count.py_func(lengths), kind="stable")

    def part(lo: int, hi: int) -> None:
        _hash_groups(data, words, offsets, lengths, order, ref.H0, out, lo // LANES, -(-hi // LANES))

    _in_parts(part, 0, len(lengths), LANES, 1024)
    return ref.digests_from_states(out)
