"""`python -m bench mine` end to end on numba-cpu: real headers, the JSON contract, the text output."""

import json
import re

import pytest

from kernels.sha256 import reference as ref
from tests import headers as H
from tests.cli import run_cli

MINE_FIELDS = {"backend", "device", "start", "count", "hashes", "seconds", "hashes_per_s", "target", "found"}


def mine(header, start, count, *extra):
    return run_cli("mine", "--header", header, "--start", str(start), "--count", str(count),
                   "--backend", "numba-cpu", *extra)


@pytest.mark.parametrize("header,nonce,blockhash", H.REAL_HEADERS, ids=["genesis", "block-125552"])
def test_json_finds_the_real_nonce(header, nonce, blockhash):
    start, count = nonce - 3001, 6007
    result = mine(header, start, count, "--json", "-")
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # stdout carries the JSON and nothing else
    assert MINE_FIELDS <= set(doc), MINE_FIELDS - set(doc)
    assert doc["backend"] == "numba-cpu"
    assert isinstance(doc["device"], str) and doc["device"]
    assert (doc["start"], doc["count"], doc["hashes"]) == (start, count, count)
    assert doc["seconds"] > 0 and doc["hashes_per_s"] == pytest.approx(count / doc["seconds"])
    assert doc["target"] == ref.target_hex(ref.header_target(ref.parse_header_hex(header)))
    assert doc["found"] == [{"nonce": nonce, "hash": blockhash}]


def test_json_with_an_explicit_easy_target_lists_every_hit():
    header = ref.parse_header_hex(H.GENESIS)
    target = 2**249 - 1
    result = mine(H.GENESIS, 1000, 3000, "--target", ref.target_hex(target), "--json", "-")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    expected = ref.scan(header, 1000, 3000, target)
    assert len(expected) > 10
    assert doc["target"] == ref.target_hex(target)
    assert doc["found"] == [{"nonce": n, "hash": ref.display_hex(ref.block_hash(header, n))} for n in expected]


def test_text_prints_nonce_hash_and_rate():
    result = mine(H.BLOCK_125552, H.BLOCK_125552_NONCE - 100, 200)
    assert result.code == 0, result.err
    assert f"found nonce {H.BLOCK_125552_NONCE}  hash {H.BLOCK_125552_HASH}" in result.out
    assert re.search(r"200 nonces in [\d.]+ s = [\d.]+ [kMG]?H/s", result.out), result.out
    assert "Traceback" not in result.err


def test_text_window_without_the_nonce():
    result = mine(H.GENESIS, 0, 4096)
    assert result.code == 0, result.err
    assert "no nonce in [0, 4096) meets target" in result.out
    assert "found nonce" not in result.out


def test_window_ending_at_the_last_nonce():
    result = mine(H.GENESIS, 2**32 - 37, 37, "--target", "f" * 64, "--json", "-")
    assert result.code == 0, result.err
    assert [f["nonce"] for f in json.loads(result.out)["found"]] == list(range(2**32 - 37, 2**32))
