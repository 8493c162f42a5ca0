"""The int8 block dots (kernels/inference/vnni.py) as each target CPU compiles them, checked on any host:
one block of 16 weight rows against 1 and 4 activation rows, compiled by LLVM for
- Ice Lake server (AVX-512 VNNI): `vpdpbusd`;
- Haswell (AVX2 and F16C, nothing newer): `vpmaddubsw` + `vpmaddwd`, Q8_0 with its signs (`vpsignb`). On an
  AVX-512 host, Numba would compile this path with the host's features and LLVM would fuse it into VNNI
  and 512-bit instructions, which no AVX2 CPU runs (seen on Zen 4), so it is compiled for Haswell here;
- Grace's Neoverse V2: SDOT on every 16-byte quarter.

The bit-exact check is tests/test_inference_quant.py's test_every_int8_dot_path_gives_the_exact_products,
run where each path runs (the Arm one on an emulated Neoverse V2: scripts/arm64_emulated.sh).
"""

from __future__ import annotations

import pytest
from llvmlite import ir

from kernels.inference import vnni
from tests.codegen import AARCH64, X86_64, assembly, mnemonics, neoverse_v2_assembly, new_module

DOT_STEPS = 8  # per block and activation row: Q8_0's 8 chunks, or Q4_1's 4 chunks of low and high nibbles
SDOT_PER_ROW = {"q8_0": 8 * 4, "q4_1": 2 * 4 * 4}  # chunks (Q4_1: low and high nibbles) x 16-byte quarters
KINDS = sorted(SDOT_PER_ROW)


def _block_totals(kind: str, rows: int, isa: str, triple: str) -> ir.Module:
    """void totals(i8* w, i8* x, i32* sums, <16 x i32>* out): the block's 16 int32 sums per activation row."""
    module = new_module(f"totals_{kind}", triple)
    i8p = vnni.I8.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p, vnni.I32.as_pointer(), vnni.LANES32.as_pointer()])
    fn = ir.Function(module, fnty, name="totals")
    w, x, sums, out = fn.args
    builder = ir.IRBuilder(fn.append_basic_block())
    xs = [builder.gep(x, [ir.Constant(vnni.I64, 32 * r)]) for r in range(rows)]
    if kind == "q8_0":
        offsets = [builder.load(builder.gep(sums, [ir.Constant(vnni.I64, r)])) for r in range(rows)]
        totals = vnni._q8_0_totals(builder, isa, w, xs, offsets)
    else:
        totals = vnni._q4_1_totals(builder, isa, w, xs)
    for r, total in enumerate(totals):
        builder.store(total, builder.gep(out, [ir.Constant(vnni.I64, r)]))
    builder.ret_void()
    return module


@pytest.mark.parametrize("rows", [1, vnni.ROWS])
@pytest.mark.parametrize("kind", KINDS)
def test_a_vnni_block_is_one_vpdpbusd_per_dot_step(kind, rows):
    ops = mnemonics(assembly(_block_totals(kind, rows, "avx512vnni", X86_64), "icelake-server"))
    assert ops["vpdpbusd"] == rows * DOT_STEPS, ops
    assert not ops["vpmaddubsw"] and not ops["vpmulld"], ops


@pytest.mark.parametrize("rows", [1, vnni.ROWS])
@pytest.mark.parametrize("kind", KINDS)
def test_an_avx2_block_is_maddubs_and_madd_on_each_half_with_signs_for_q8_0(kind, rows):
    text = assembly(_block_totals(kind, rows, "avx2", X86_64), "haswell")
    ops = mnemonics(text)
    steps = rows * DOT_STEPS * 2  # each dot step on the two 32-byte halves of a chunk
    assert ops["vpmaddubsw"] == steps and ops["vpmaddwd"] == steps, ops
    if kind == "q8_0":  # x takes w's sign per row and half; |w| once per half
        assert ops["vpsignb"] == steps + DOT_STEPS * 2, ops
    else:
        assert not ops["vpsignb"], ops  # nibbles are unsigned: nothing to sign
    assert "zmm" not in text and not ops["vpmulld"], ops


@pytest.mark.parametrize("rows", [1, vnni.ROWS])
@pytest.mark.parametrize("kind", KINDS)
def test_an_arm_block_is_sdot_on_every_quarter(kind, rows):
    ops = mnemonics(neoverse_v2_assembly(_block_totals(kind, rows, "neon_dotprod", AARCH64)))
    assert ops["sdot"] == rows * SDOT_PER_ROW[kind], ops
    assert not ops["smull"] and not ops["smull2"] and not ops["mla"], ops  # no widening multiplies left


def test_each_path_needs_its_features():
    assert vnni.usable_isas({"+neon", "+dotprod"}) == ("neon_dotprod",)
    assert vnni.usable_isas({"+neon"}) == () and vnni.host_isa({"+neon"}) == vnni.PLAIN
    x86 = {"+avx2", "+f16c", "+avx512vnni", "+avx512bw"}
    assert vnni.usable_isas(x86) == ("avx512vnni", "avx2") and vnni.host_isa(x86 - {"+avx512vnni"}) == "avx2"
