"""The hashlib oracle and Bitcoin block-header helpers every SHA-256 backend is checked against.

A header is 80 bytes: version(4) prev_hash(32) merkle_root(32) time(4) bits(4) nonce(4), all
little-endian. Its block hash is sha256d(header); "display order" is that digest byte-reversed, as
block explorers print it. A header meets a target when the digest, read as a little-endian 256-bit
integer, is <= the target.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

HEADER_BYTES = 80
NONCE_OFFSET = 76
BITS_OFFSET = 72
MAX_NONCE = 2**32 - 1
MAX_TARGET = 2**256 - 1

# FIPS 180-4 initial hash value and round constants.
H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.uint32,
)
K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.uint32,
)


def sha256(data: bytes) -> bytes:
    """Single SHA-256 (the oracle for `hash_batch`)."""
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256, in internal (little-endian) byte order."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def display_hex(digest: bytes) -> str:
    """A digest in display order: byte-reversed hex, as block explorers show block hashes."""
    return digest[::-1].hex()


def hash_value(digest: bytes) -> int:
    """The digest as the little-endian 256-bit integer that is compared with the target."""
    return int.from_bytes(digest, "little")


def parse_header_hex(text: str) -> bytes:
    """Decode a header given as 160 hex digits; ValueError says what is wrong and how to fix it."""
    text = text.strip()
    if text.startswith(("0x", "0X")):
        text = text[2:]
    if len(text) % 2:
        raise ValueError(f"header hex has an odd number of digits ({len(text)}); give 160 hex digits (80 bytes)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        bad = next(c for c in text if c not in "0123456789abcdefABCDEF")
        raise ValueError(f"header is not hex (found {bad!r}); give 160 hex digits (80 bytes)") from None
    return validate_header(raw)


def validate_header(header: bytes) -> bytes:
    """Return the header as bytes if it is exactly 80 bytes, else raise ValueError."""
    header = bytes(header)
    if len(header) != HEADER_BYTES:
        raise ValueError(
            f"header is {len(header)} bytes, a block header is exactly {HEADER_BYTES} bytes (160 hex digits)"
        )
    return header


def validate_range(start: int, count: int) -> None:
    """A nonce window [start, start+count) must be non-empty and inside 0..2**32-1."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if start + count > MAX_NONCE + 1:
        raise ValueError(
            f"start + count = {start + count} goes past the last nonce 2**32-1; "
            f"use count <= {MAX_NONCE + 1 - start} for start {start}"
        )


def parse_target_hex(text: str) -> int:
    """A target written as 64 hex digits, big-endian as usual (e.g. 00000000ffff0000...)."""
    text = text.strip()
    if text.startswith(("0x", "0X")):
        text = text[2:]
    if len(text) != 64:
        raise ValueError(f"target must be 64 hex digits (256 bits), got {len(text)} digits")
    try:
        return int(text, 16)
    except ValueError:
        raise ValueError("target is not hex; give 64 hex digits, e.g. 00000000ffff" + "0" * 52) from None


def validate_target(target) -> int:
    """A target passed to a backend's scan: an int in 0..2**256-1 (ValueError otherwise)."""
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise ValueError(f"target must be an int, got {type(target).__name__}; parse hex with reference.parse_target_hex")
    if not 0 <= int(target) <= MAX_TARGET:
        raise ValueError(f"target must be in 0..2**256-1, got {target}")
    return int(target)


def message_list(messages) -> list[bytes]:
    """A `hash_batch` argument as a list of bytes: a sequence of bytes-like objects, or a 2-D uint8 array of rows.

    ValueError for a single message passed bare, or one item that is not bytes-like (named by its index).
    """
    if isinstance(messages, (bytes, bytearray, memoryview, str)):
        raise ValueError("hash_batch takes a sequence of messages; wrap a single message in a list: [message]")
    if isinstance(messages, np.ndarray) and messages.ndim == 2 and messages.dtype == np.uint8:
        return [row.tobytes() for row in messages]
    try:
        items = list(messages)
    except TypeError:
        raise ValueError(f"hash_batch takes a sequence of bytes-like messages, got {type(messages).__name__}") from None
    result = []
    for i, m in enumerate(items):
        try:
            result.append(memoryview(m).tobytes())
        except TypeError:
            raise ValueError(
                f"message {i} is {type(m).__name__}, not bytes-like; give bytes (encode text with text.encode())"
            ) from None
    return result


def target_hex(target: int) -> str:
    return f"{target:064x}"


def bits_of(header: bytes) -> int:
    """The compact `bits` field of a header."""
    return struct.unpack_from("<I", validate_header(header), BITS_OFFSET)[0]


def bits_to_target(bits: int) -> int:
    """Expand compact `bits` to the 256-bit target, rejecting what Bitcoin Core rejects.

    Compact form: exponent byte E and a 23-bit mantissa M with a sign bit; target = M * 256**(E-3).
    A set sign bit with a non-zero mantissa is negative, and a value above 2**256-1 overflows; both are
    invalid proof-of-work targets (CheckProofOfWork's fNegative / fOverflow). A zero target is too.
    """
    if not 0 <= bits <= 0xFFFFFFFF:
        raise ValueError(f"bits must be a 32-bit value, got {bits}")
    exponent = bits >> 24
    word = bits & 0x007FFFFF
    if exponent <= 3:
        word >>= 8 * (3 - exponent)
        target = word
    else:
        target = word << (8 * (exponent - 3))
    if word and bits & 0x00800000:
        raise ValueError(f"bits 0x{bits:08x} encode a negative target (sign bit 0x00800000 set)")
    if word and (exponent > 34 or (word > 0xFF and exponent > 33) or (word > 0xFFFF and exponent > 32)):
        raise ValueError(f"bits 0x{bits:08x} overflow 256 bits (exponent {exponent} too large)")
    if target == 0:
        raise ValueError(f"bits 0x{bits:08x} encode a zero target, which no hash can meet")
    return target


def header_target(header: bytes) -> int:
    return bits_to_target(bits_of(header))


def with_nonce(header: bytes, nonce: int) -> bytes:
    """The header with its nonce field (bytes 76..79, little-endian) set to `nonce`."""
    header = validate_header(header)
    if not 0 <= nonce <= MAX_NONCE:
        raise ValueError(f"nonce must be in 0..2**32-1, got {nonce}")
    return header[:NONCE_OFFSET] + struct.pack("<I", nonce)


def nonce_of(header: bytes) -> int:
    return struct.unpack_from("<I", validate_header(header), NONCE_OFFSET)[0]


def block_hash(header: bytes, nonce: int | None = None) -> bytes:
    """sha256d of the header (with `nonce` placed, if given), internal byte order."""
    return sha256d(header if nonce is None else with_nonce(header, nonce))


def meets_target(header: bytes, nonce: int, target: int) -> bool:
    """The check every backend's hit is re-verified with before it is returned."""
    return hash_value(block_hash(header, nonce)) <= target


def scan(header: bytes, start: int, count: int, target: int) -> list[int]:
    """The slow, obviously correct scan (about 1 MH/s): the oracle for every backend's `scan`."""
    header = validate_header(header)
    validate_range(start, count)
    prefix = header[:NONCE_OFFSET]
    first = hashlib.sha256(prefix[:64])
    hits = []
    for nonce in range(start, start + count):
        inner = first.copy()
        inner.update(prefix[64:] + struct.pack("<I", nonce))
        if hash_value(hashlib.sha256(inner.digest()).digest()) <= target:
            hits.append(nonce)
    return hits


def verified_hits(header: bytes, candidates, target: int, start: int, count: int) -> list[int]:
    """Sorted, de-duplicated candidates inside the window that hashlib confirms meet the target.

    Backends return only what this keeps, so a kernel bug can lose a hit (caught by the tests) but can
    never report a false one.
    """
    end = start + count
    return sorted({int(n) for n in candidates if start <= int(n) < end and meets_target(header, int(n), target)})


# --- SHA-256 internals shared by the kernels' precomputation (host side, plain Python ints) ---

def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def compress(state, block: bytes) -> tuple[int, ...]:
    """One SHA-256 compression of a 64-byte block on plain ints (used for midstates)."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & 0xFFFFFFFF)
    a, b, c, d, e, f, g, h = (int(x) for x in state)
    for t in range(64):
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + int(K[t]) + w[t]) & 0xFFFFFFFF
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & 0xFFFFFFFF
        a, b, c, d, e, f, g, h = (t1 + t2) & 0xFFFFFFFF, a, b, c, (d + t1) & 0xFFFFFFFF, e, f, g
    return tuple((int(s) + v) & 0xFFFFFFFF for s, v in zip(state, (a, b, c, d, e, f, g, h)))


def midstate(header: bytes) -> np.ndarray:
    """SHA-256 state after the header's first 64 bytes: the same for every nonce, computed once."""
    header = validate_header(header)
    return np.array(compress(H0, header[:64]), dtype=np.uint32)


def tail_words(header: bytes) -> np.ndarray:
    """The three big-endian message words of the second block that precede the nonce (merkle tail, time, bits)."""
    header = validate_header(header)
    return np.array(struct.unpack(">3I", header[64:76]), dtype=np.uint32)


def padded_blocks(message: bytes) -> bytes:
    """The message with SHA-256 padding: 0x80, zeros, the 64-bit big-endian bit length."""
    length = len(message)
    pad = b"\x80" + b"\x00" * ((55 - length) % 64) + struct.pack(">Q", 8 * length)
    return message + pad


def pack_messages(messages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad a batch of messages into one flat array of big-endian words for the batch kernels.

    Returns (words uint32[total_blocks*16], block_offset int64[n], block_count int64[n]); message i
    owns blocks block_offset[i] .. block_offset[i]+block_count[i]-1.
    """
    padded = [padded_blocks(bytes(m)) for m in messages]
    counts = np.fromiter((len(p) // 64 for p in padded), dtype=np.int64, count=len(padded))
    offsets = np.zeros(len(padded), dtype=np.int64)
    if len(padded) > 1:
        np.cumsum(counts[:-1], out=offsets[1:])
    words = np.frombuffer(b"".join(padded), dtype=">u4").astype(np.uint32)
    return words, offsets, counts


def digests_from_states(states: np.ndarray) -> list[bytes]:
    """Final states uint32[n, 8] -> list of 32-byte digests (big-endian words)."""
    return np.ascontiguousarray(states, dtype=np.uint32).astype(">u4").view("V32").ravel().tolist()
