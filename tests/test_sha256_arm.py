"""The Arm SHA2 scan (kernels/sha256/arm_sha2.py), checked on any CPU: its rounds for two nonces (the first
hash's last block and the second hash up to H7, as numba_cpu's scan runs them) compiled by LLVM for
Neoverse V2 (Grace), and the instructions counted.

The bit-exact checks are the numba-cpu tests themselves, run where the unit runs: natively on AArch64, or
under qemu-user on an emulated Neoverse V2 (scripts/arm64_emulated.sh).
"""

from __future__ import annotations

import re

import pytest
from llvmlite import ir

from kernels.sha256 import arm_sha2
from kernels.sha256 import reference as ref
from kernels.sha256.sha_unit import I32, chaining_values, last_words
from tests.codegen import mnemonics, neoverse_v2_assembly, new_module

# In numba_cpu's compiled scan (emulated Neoverse V2, 2026-12-08): 62 sha256h + 64 sha256h2 and 90 schedule
# instructions for two nonces; llvm-mca's Neoverse V2 model puts them all on pipe V0, 216 cycles.
HASH_INSTRUCTIONS = 2 * (32 + 31)  # the second hash's last sha256h (ABCD) is dead code
SCHEDULE_CEILING = 2 * 2 * 24  # sha256su0 + sha256su1: 12 + 12 per hash and nonce, before any is shared


def _scan_step() -> ir.Module:
    """void step(i32* mid, i32* tail, i32 nonce, i32* out): out[i] = H7 of sha256d(header with nonce + i), i < 2."""
    module = new_module("scan_step")
    ptr = I32.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, I32, ptr]), name="step")
    mid, tail, nonce, out = fn.args
    builder = ir.IRBuilder(fn.append_basic_block())
    bswap = module.declare_intrinsic("llvm.bswap", [I32])
    load = lambda p, i: builder.load(builder.gep(p, [ir.Constant(I32, i)]))  # noqa: E731
    const = lambda x: ir.Constant(I32, int(x))  # noqa: E731
    start = [load(mid, i) for i in range(8)]
    t = [load(tail, i) for i in range(3)]
    header_blocks = [[*t, builder.call(bswap, [builder.add(nonce, const(i))]), const(0x80000000), *[const(0)] * 10,
                      const(640)] for i in range(2)]
    digests = chaining_values(arm_sha2.ARM_SHA2, builder, start, header_blocks)
    second = [[*d, const(0x80000000), *[const(0)] * 6, const(256)] for d in digests]
    for i, word in enumerate(last_words(arm_sha2.ARM_SHA2, builder, [const(x) for x in ref.H0], second)):
        builder.store(word, builder.gep(out, [const(i)]))
    builder.ret_void()
    return module


@pytest.fixture(scope="module")
def scan_assembly() -> str:
    return neoverse_v2_assembly(_scan_step())


def test_two_nonces_run_on_the_sha2_unit(scan_assembly):
    ops = mnemonics(scan_assembly)
    assert ops["sha256h"] + ops["sha256h2"] == HASH_INSTRUCTIONS, ops
    assert ops["sha256su0"] + ops["sha256su1"] <= SCHEDULE_CEILING, ops
    assert not ops["ror"] and not ops["eor"], ops  # no round or schedule arithmetic left outside the unit


def test_the_two_nonces_are_interleaved(scan_assembly):
    """Each sha256h waits for the state the last one wrote, so the two nonces' chains should alternate.
    `sha256h2` rewrites EFGH in place, so a chain keeps its EFGH register: in the first hash the
    destinations alternate between two registers, not 16 of one and then 16 of the other."""
    destinations = re.findall(r"^\s+sha256h2\s+q(\d+),", scan_assembly, re.MULTILINE)[:32]
    assert len(set(destinations)) == 2, destinations
    assert sum(a != b for a, b in zip(destinations, destinations[1:])) >= 16, destinations


def test_the_unit_runs_whole_groups_of_four_rounds():
    """(When the unit is available: tests/test_sha256_numba_cpu.py::test_sha_ni_is_x86_with_the_sha_feature.)"""
    with pytest.raises(ValueError, match="4 rounds at a time"):
        arm_sha2.rounds(None, [], 62)
