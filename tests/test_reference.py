import hashlib
import struct

import pytest

from kernels.sha256 import reference as ref
from tests import headers as H


@pytest.mark.parametrize("message,digest", H.FIPS_VECTORS[:4])
def test_fips_vectors_with_hashlib(message, digest):
    assert ref.sha256(message).hex() == digest


@pytest.mark.parametrize("hexheader,nonce,blockhash", H.REAL_HEADERS)
def test_real_headers_hash_to_their_block_hash(hexheader, nonce, blockhash):
    header = ref.parse_header_hex(hexheader)
    assert ref.nonce_of(header) == nonce
    assert ref.display_hex(ref.block_hash(header)) == blockhash
    assert ref.display_hex(ref.block_hash(header, nonce)) == blockhash
    assert ref.meets_target(header, nonce, ref.header_target(header))
    assert not ref.meets_target(header, nonce ^ 1, ref.header_target(header))


def test_bits_to_target_of_both_headers():
    assert ref.bits_of(ref.parse_header_hex(H.GENESIS)) == H.GENESIS_BITS
    assert ref.bits_to_target(H.GENESIS_BITS) == H.GENESIS_TARGET
    assert ref.bits_of(ref.parse_header_hex(H.BLOCK_125552)) == H.BLOCK_125552_BITS
    assert ref.bits_to_target(H.BLOCK_125552_BITS) == H.BLOCK_125552_TARGET
    assert ref.header_target(ref.parse_header_hex(H.BLOCK_125552)) == H.BLOCK_125552_TARGET


@pytest.mark.parametrize(
    "bits,expected",
    [
        (0x03123456, 0x123456),
        (0x02123400, 0x1234),  # small exponent shifts right
        (0x01120000, 0x12),
        (0x05009234, 0x92340000),
        (0x207FFFFF, 0x7FFFFF << (8 * 29)),  # regtest limit
        (0x2100FFFF, 0xFFFF << (8 * 30)),  # largest exponent with a 2-byte mantissa
    ],
)
def test_bits_to_target_core_examples(bits, expected):
    assert ref.bits_to_target(bits) == expected


@pytest.mark.parametrize(
    "bits,word",
    [
        (0x04923456, "negative"),
        (0x01FEDCBA, "negative"),  # sign bit set and a non-zero word after the shift
        (0xFF123456, "overflow"),
        (0x23000100, "overflow"),
        (0x21010000, "overflow"),
        (0x00000000, "zero"),
        (0x01003456, "zero"),
    ],
)
def test_malformed_bits_rejected(bits, word):
    with pytest.raises(ValueError, match=word):
        ref.bits_to_target(bits)


def test_header_parsing_errors_name_the_fix():
    with pytest.raises(ValueError, match="odd number"):
        ref.parse_header_hex("abc")
    with pytest.raises(ValueError, match="not hex"):
        ref.parse_header_hex("zz" * 80)
    with pytest.raises(ValueError, match="79 bytes"):
        ref.parse_header_hex("00" * 79)
    with pytest.raises(ValueError, match="64 hex digits"):
        ref.parse_target_hex("ff")
    with pytest.raises(ValueError, match="not hex"):
        ref.parse_target_hex("g" * 64)


def test_range_validation():
    ref.validate_range(0, 2**32)
    ref.validate_range(2**32 - 1, 1)
    for start, count in [(0, 0), (5, -1), (2**32 - 1, 2), (-1, 5)]:
        with pytest.raises(ValueError):
            ref.validate_range(start, count)


def test_midstate_and_tail_match_a_manual_compression():
    header = ref.parse_header_hex(H.GENESIS)
    state = ref.compress(ref.H0, header[:64])
    assert tuple(int(x) for x in ref.midstate(header)) == state
    second = ref.padded_blocks(header)[64:128]
    final = ref.compress(state, second)
    assert struct.pack(">8I", *final) == hashlib.sha256(header).digest()
    assert tuple(ref.tail_words(header)) == struct.unpack(">3I", header[64:76])


def test_reference_scan_and_verified_hits():
    header = ref.parse_header_hex(H.GENESIS)
    target = ref.header_target(header)
    assert ref.scan(header, H.GENESIS_NONCE - 50, 100, target) == [H.GENESIS_NONCE]
    assert ref.scan(header, 0, 100, target) == []
    easy = 1 << 250
    hits = ref.scan(header, 1000, 300, easy)
    brute = [n for n in range(1000, 1300) if ref.hash_value(ref.block_hash(header, n)) <= easy]
    assert hits == brute and hits
    # verified_hits drops duplicates, out-of-window and false candidates
    assert ref.verified_hits(header, hits + hits[:1] + [5, 99999], easy, 1000, 300) == hits


def test_pack_messages_round_trip():
    msgs = [b"", b"abc", b"x" * 55, b"y" * 56, b"z" * 64, b"w" * 200]
    words, offsets, counts = ref.pack_messages(msgs)
    assert list(counts) == [1, 1, 1, 2, 2, 4]
    assert list(offsets) == [0, 1, 2, 3, 5, 7]
    assert words.size == 16 * int(counts.sum())
