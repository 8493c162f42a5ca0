"""The int8 block dots on Arm (kernels/inference/vnni.py, `neon_dotprod`), checked on any CPU: one block of
16 weight rows against 1 and 4 activation rows, compiled by LLVM for Neoverse V2 (Grace), as SDOT.

The bit-exact check is tests/test_inference_quant.py's test_every_int8_dot_path_gives_the_exact_products,
run where the path runs: on AArch64, or on an emulated Neoverse V2 (scripts/arm64_emulated.sh).
"""

from __future__ import annotations

import pytest
from llvmlite import ir

from kernels.inference import vnni
from tests.arm_codegen import mnemonics, neoverse_v2_assembly, new_module

SDOT_PER_ROW = {"q8_0": 8 * 4, "q4_1": 2 * 4 * 4}  # chunks (Q4_1: low and high nibbles) x 16-byte quarters


def _block_totals(kind: str, rows: int) -> ir.Module:
    """void totals(i8* w, i8* x, i32* sums, <16 x i32>* out): the block's 16 int32 sums per activation row."""
    module = new_module(f"totals_{kind}")
    i8p = vnni.I8.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p, vnni.I32.as_pointer(), vnni.LANES32.as_pointer()])
    fn = ir.Function(module, fnty, name="totals")
    w, x, sums, out = fn.args
    builder = ir.IRBuilder(fn.append_basic_block())
    xs = [builder.gep(x, [ir.Constant(vnni.I64, 32 * r)]) for r in range(rows)]
    if kind == "q8_0":
        offsets = [builder.load(builder.gep(sums, [ir.Constant(vnni.I64, r)])) for r in range(rows)]
        totals = vnni._q8_0_totals(builder, "neon_dotprod", w, xs, offsets)
    else:
        totals = vnni._q4_1_totals(builder, "neon_dotprod", w, xs)
    for r, total in enumerate(totals):
        builder.store(total, builder.gep(out, [ir.Constant(vnni.I64, r)]))
    builder.ret_void()
    return module


@pytest.mark.parametrize("rows", [1, vnni.ROWS])
@pytest.mark.parametrize("kind", sorted(SDOT_PER_ROW))
def test_a_block_is_sdot_on_every_quarter(kind, rows):
    ops = mnemonics(neoverse_v2_assembly(_block_totals(kind, rows)))
    assert ops["sdot"] == rows * SDOT_PER_ROW[kind], ops
    assert not ops["smull"] and not ops["smull2"] and not ops["mla"], ops  # no widening multiplies left


def test_the_arm_path_needs_dotprod():
    assert vnni.usable_isas({"+neon", "+dotprod"}) == ("neon_dotprod",)
    assert vnni.usable_isas({"+neon"}) == () and vnni.host_isa({"+neon"}) == vnni.PLAIN
    assert "neon_dotprod" not in vnni.usable_isas({"+avx2", "+f16c", "+avx512vnni", "+avx512bw"})
