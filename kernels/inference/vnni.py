"""Int8 block dot products as Numba intrinsics, written into the LLVM IR directly: AVX-512 VNNI
(`vpdpbusd`) or, on AVX2 hosts without it, the same sums from `vpmaddubsw` and `vpmaddwd`; on Arm
(Grace's Neoverse V2, Apple M) from SDOT.

Why by hand: from plain integer loops LLVM (llvmlite 0.50) emits `vpmaddwd` for Q4_1 and `vpmulld` for
Q8_0, never `vpdpbusd`, and ran 2.6x slower on SmolLM2's gate/up matrix. `vpdpbusd` multiplies 64
unsigned bytes by 64 signed bytes and adds each 4 neighbouring products into one of 16 int32 lanes, so
the weights are laid out for it (quant_cpu "lanes"): a block of 16 rows is chunks of 64 bytes, lane r
holding 4 consecutive quants of row r, and the 4 matching activation bytes are broadcast to every lane.
- Q4_1: 4 chunks of nibble pairs; byte k of lane r in chunk c holds element 4c+k (low nibble) and
  16+4c+k (high nibble) of row r. 8 dot steps per block (low nibbles, then high ones).
- Q8_0: 8 chunks of quants offset by +128 (unsigned); with VNNI the sum then holds 128 * sum(x) too,
  which is taken off with the activation block's integer sum.
AVX2 (`ISAS`): one dot step is `vpmaddubsw` (pairs of u8 x s8 products into int16) and `vpmaddwd` with
ones (pairs of those into the int32 lane), on each 32-byte half of a chunk, as llama.cpp does there. The
int16 pair saturates past 32767, so Q8_0 takes its weights back to signed (xor 0x80) and multiplies
|w| by x carrying w's sign (`vpsignb`): |w|, |x| <= 127 keep a pair within 32258, and no offset is
needed. Q4_1's nibbles (<= 15) never come near it.
Arm (`neon_dotprod`): SDOT does vpdpbusd's job on a 16-byte quarter of a chunk (4 rows), signed by signed,
so Q8_0's quants go back to signed as for AVX2; checked bit for bit on an emulated Neoverse V2
(scripts/arm64_emulated.sh), not timed on an Arm CPU.
The block's scales stay fp16 as in the file (16 d, then for Q4_1 16 minimums m, per block of 16 rows)
and are widened in registers (`vcvtph2ps`), so the kernels read the file's bytes and no more. Each
intrinsic adds one block to 16 float32 accumulators passed in and out as a tuple (kept in registers after
inlining): acc += d * dx * sum (+ m * sx for Q4_1); `rows4_*` do four activation rows per weight chunk
(prefill, batches). `INTRINSICS[isa]` holds them per instruction set; `host_isa()` names the one Numba
compiles for here. `widen_half` is the same fp16 widening for one value, for the plain-loop kernels of
hosts with neither, and `float_from_bits` a bitcast (bfloat16 weights, a vectorisable exp).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from kernels.runtime import cpu

I8, I16, I32, I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16, F32 = ir.HalfType(), ir.FloatType()
BYTES = ir.VectorType(I8, 64)
LANES32 = ir.VectorType(I32, 16)
FLOATS = ir.VectorType(F32, 16)
HALVES = ir.VectorType(F16, 16)
ACC = types.UniTuple(types.float32, 16)


ISAS = ("avx512vnni", "avx2", "neon_dotprod")  # instruction sets the intrinsics are built for, best first
PLAIN = "plain"  # none of them: the kernels' plain loops
NEEDS = {"avx512vnni": {"+avx512vnni", "+avx512bw", "+f16c"}, "avx2": {"+avx2", "+f16c"},
         "neon_dotprod": {"+neon", "+dotprod"}}  # LLVM's feature names


def usable_isas(features: set[str] | None = None) -> tuple[str, ...]:
    """The members of ISAS the target has (AVX-512 VNNI hosts have AVX2 too), best first."""
    features = cpu.compile_features() if features is None else features
    return tuple(isa for isa in ISAS if NEEDS[isa] <= features)


def host_isa(features: set[str] | None = None) -> str:
    """The best instruction set for the int8 dots here, or PLAIN."""
    return next(iter(usable_isas(features)), PLAIN)


def _pointer(context, builder, arrtype, value):
    return builder.bitcast(context.make_array(arrtype)(context, builder, value).data, I8.as_pointer())


def _broadcast4(builder, base, offset: int):
    """The 4 bytes at base[offset] as one int32, in all 16 lanes."""
    word = builder.load(builder.bitcast(builder.gep(base, [ir.Constant(I64, offset)]), I32.as_pointer()), align=1)
    one = builder.insert_element(ir.Constant(LANES32, ir.Undefined), word, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, ir.Constant(LANES32, ir.Undefined), ir.Constant(LANES32, [0] * 16))


def _chunk(builder, base, index: int):
    return builder.load(builder.bitcast(builder.gep(base, [ir.Constant(I64, 64 * index)]), BYTES.as_pointer()), align=1)


def _dpbusd(builder):
    fnty = ir.FunctionType(LANES32, [LANES32, LANES32, LANES32])
    fn = builder.module.declare_intrinsic("llvm.x86.avx512.vpdpbusd.512", fnty=fnty)
    return lambda acc, u8, s8: builder.call(fn, [acc, builder.bitcast(u8, LANES32), s8])


HALF_BYTES, HALF_WORDS, HALF_LANES = ir.VectorType(I8, 32), ir.VectorType(I16, 16), ir.VectorType(I32, 8)


def _split(builder, v, parts: int):
    """The lanes of vector v in `parts` equal pieces, in order (a 64-byte chunk: two ymm halves for AVX2,
    four 16-byte quarters for SDOT)."""
    width = v.type.count // parts
    undef = ir.Constant(v.type, ir.Undefined)
    return [builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(I32, width), list(range(width * p, width * p + width))))
            for p in range(parts)]


def _join(builder, pieces):
    """The pieces' lanes back to back in one vector (the inverse of _split), joined pairwise."""
    while len(pieces) > 1:
        width = 2 * pieces[0].type.count
        pieces = [builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(I32, width), list(range(width))))
                  for a, b in zip(pieces[::2], pieces[1::2])]
    return pieces[0]


def _maddubs(builder, signed: bool = False):
    """acc + vpdpbusd's sums from AVX2: per 32-byte half, vpmaddubsw (u8 x s8 pairs -> int16, saturating)
    then vpmaddwd with ones (int16 pairs -> int32 lane). `signed`: the first operand is signed bytes w,
    taken as |w| times x with w's sign (vpsignb, |w| = sign(w, w)), so no pair saturates while |w|, |x| <= 127."""
    ub = builder.module.declare_intrinsic("llvm.x86.avx2.pmadd.ub.sw", fnty=ir.FunctionType(HALF_WORDS, [HALF_BYTES] * 2))
    wd = builder.module.declare_intrinsic("llvm.x86.avx2.pmadd.wd", fnty=ir.FunctionType(HALF_LANES, [HALF_WORDS] * 2))
    sign = builder.module.declare_intrinsic("llvm.x86.avx2.psign.b", fnty=ir.FunctionType(HALF_BYTES, [HALF_BYTES] * 2))
    ones = ir.Constant(HALF_WORDS, [1] * 16)

    def dot(acc, u8, s8):
        sums = []
        for u, s in zip(_split(builder, builder.bitcast(u8, BYTES), 2), _split(builder, builder.bitcast(s8, BYTES), 2)):
            if signed:
                u, s = builder.call(sign, [u, u]), builder.call(sign, [s, u])
            sums.append(builder.call(wd, [builder.call(ub, [u, s]), ones]))
        return builder.add(acc, _join(builder, sums))

    return dot


QUARTER_BYTES, QUARTER_LANES = ir.VectorType(I8, 16), ir.VectorType(I32, 4)


def _sdot(builder):
    """acc + vpdpbusd's sums from Arm's SDOT (FEAT_DotProd: signed bytes, 4 products into each of 4 int32
    lanes), on each 16-byte quarter of a chunk. Both operands are signed: Q4_1's nibbles (<= 15) are as
    they are, Q8_0's quants are taken back to signed first."""
    fnty = ir.FunctionType(QUARTER_LANES, [QUARTER_LANES, QUARTER_BYTES, QUARTER_BYTES])
    fn = builder.module.declare_intrinsic("llvm.aarch64.neon.sdot.v4i32.v16i8", fnty=fnty)

    def dot(acc, a, b):
        quarters = zip(_split(builder, acc, 4), _split(builder, builder.bitcast(a, BYTES), 4),
                       _split(builder, builder.bitcast(b, BYTES), 4))
        return _join(builder, [builder.call(fn, list(q)) for q in quarters])

    return dot


def _q8_0_dot(builder, isa: str):
    """The Q8_0 dot step on a chunk of quants + 128 and its offset rule: VNNI takes the unsigned bytes and
    leaves 128 * sum(x) to take off; AVX2 and SDOT take them back to signed and leave nothing."""
    if isa == "avx512vnni":
        return _dpbusd(builder), True
    flip = ir.Constant(BYTES, [0x80] * 64)
    signed = _sdot(builder) if isa == "neon_dotprod" else _maddubs(builder, signed=True)
    return (lambda acc, u8, s8: signed(acc, builder.xor(u8, flip), s8)), False


def _u8_dot(builder, isa: str):
    """The dot step for unsigned bytes (Q4_1's nibbles)."""
    return {"avx512vnni": _dpbusd, "neon_dotprod": _sdot}.get(isa, _maddubs)(builder)


def _from_tuple(builder, value):
    vector = ir.Constant(FLOATS, ir.Undefined)
    for r in range(16):
        vector = builder.insert_element(vector, builder.extract_value(value, r), ir.Constant(I32, r))
    return vector


def _as_tuple(context, builder, vector):
    out = context.get_constant_undef(ACC)
    for r in range(16):
        out = builder.insert_value(out, builder.extract_element(vector, ir.Constant(I32, r)), r)
    return out


def _halves(builder, base, index: int):
    """16 fp16 values at base + 32 * index bytes, widened to float32."""
    ptr = builder.bitcast(builder.gep(base, [ir.Constant(I64, 32 * index)]), HALVES.as_pointer())
    return builder.fpext(builder.load(ptr, align=2), FLOATS)


def _splat(builder, scalar):
    one = builder.insert_element(ir.Constant(FLOATS, ir.Undefined), scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, ir.Constant(FLOATS, ir.Undefined), ir.Constant(LANES32, [0] * 16))


def _pointers(context, builder, sig, args, which):
    return [_pointer(context, builder, sig.args[i], args[i]) for i in which]


@intrinsic
def widen_half(typingctx, halves, index):
    """float32 of the fp16 value halves[index] (a uint16 array holding fp16 bits)."""

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(arr.data, [args[1]]), F16.as_pointer())
        return builder.fpext(builder.load(ptr), F32)

    return types.float32(halves, types.intp), codegen


@intrinsic
def float_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the int32 `bits` (a bitcast, which Numba has no scalar form of)."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], F32)

    return types.float32(types.int32), codegen


ROWS = 4  # activation rows per call of the rows4_* intrinsics
ACC4 = types.UniTuple(ACC, ROWS)


def _row_pointers(context, builder, arrtype, value, count: int):
    """Byte pointers to rows 0..count-1 of a (possibly strided) array view, along its first axis."""
    arr = context.make_array(arrtype)(context, builder, value)
    base = builder.bitcast(arr.data, I8.as_pointer())
    stride = builder.extract_value(arr.strides, 0)
    return [builder.gep(base, [builder.mul(stride, ir.Constant(stride.type, i))]) for i in range(count)]


def _scalar(builder, ptr, kind):
    return builder.load(builder.bitcast(ptr, kind.as_pointer()))


def _q4_1_totals(builder, isa, wp, xps):
    """Per activation row (byte pointer in xps), the 16 int32 sums of nibbles x int8 over one block."""
    dp = _u8_dot(builder, isa)
    low, shift = ir.Constant(BYTES, [15] * 64), ir.Constant(BYTES, [4] * 64)
    totals = [ir.Constant(LANES32, [0] * 16)] * len(xps)
    for c in range(4):
        v = _chunk(builder, wp, c)
        lo, hi = builder.and_(v, low), builder.and_(builder.lshr(v, shift), low)
        totals = [dp(dp(t, lo, _broadcast4(builder, xp, 4 * c)), hi, _broadcast4(builder, xp, 16 + 4 * c))
                  for t, xp in zip(totals, xps)]
    return totals


def _q8_0_totals(builder, isa, wp, xps, offsets):
    """Per activation row, the 16 int32 sums of quants x int8 over one block; `offsets` (int32 sum(x) per
    row) are taken off as 128 * sum where the dot step leaves the +128 of the stored quants in."""
    dp, offset = _q8_0_dot(builder, isa)
    totals = [ir.Constant(LANES32, [0] * 16)] * len(xps)
    for c in range(8):
        v = _chunk(builder, wp, c)
        totals = [dp(t, v, _broadcast4(builder, xp, 4 * c)) for t, xp in zip(totals, xps)]
    if not offset:
        return totals
    out = []
    for t, s in zip(totals, offsets):
        off = builder.insert_element(ir.Constant(LANES32, ir.Undefined), builder.mul(s, ir.Constant(I32, 128)),
                                     ir.Constant(I32, 0))
        out.append(builder.sub(t, builder.shuffle_vector(off, ir.Constant(LANES32, ir.Undefined),
                                                         ir.Constant(LANES32, [0] * 16))))
    return out


def _scaled(builder, acc_v, d, dx, total, m=None, sx=None):
    """acc + d * dx * total (+ m * sx): one block's sums into the float32 accumulators."""
    acc_v = builder.fadd(acc_v, builder.fmul(builder.fmul(d, _splat(builder, dx)), builder.sitofp(total, FLOATS)))
    return acc_v if m is None else builder.fadd(acc_v, builder.fmul(m, _splat(builder, sx)))


def _make_intrinsics(isa: str) -> dict:
    """block_q4_1, block_q8_0, rows4_q4_1 and rows4_q8_0 with their dot steps from `isa`."""

    def block_q4_1(typingctx, acc, w, scales, x, dx, sx):
        """acc + d * dx * sum(q * x) + m * sx for one block of 16 rows: w 256 uint8 (see the module
        docstring), scales 32 uint16 (fp16 d, then m), x the block's 32 int8 activations, dx its scale,
        sx = dx * sum(x)."""

        def codegen(context, builder, sig, args):
            wp, sp, xp = _pointers(context, builder, sig, args, (1, 2, 3))
            (total,) = _q4_1_totals(builder, isa, wp, [xp])
            acc_v = _scaled(builder, _from_tuple(builder, args[0]), _halves(builder, sp, 0), args[4], total,
                            _halves(builder, sp, 1), args[5])
            return _as_tuple(context, builder, acc_v)

        return ACC(acc, w, scales, x, types.float32, types.float32), codegen

    def block_q8_0(typingctx, acc, w, scales, x, dx, xsum):
        """acc + d * dx * sum(q * x) for one block of 16 rows: w 512 uint8 (quants + 128), scales 16
        uint16 (fp16 d), x 32 int8, dx its scale, xsum = sum(x) (int32)."""

        def codegen(context, builder, sig, args):
            wp, sp, xp = _pointers(context, builder, sig, args, (1, 2, 3))
            (total,) = _q8_0_totals(builder, isa, wp, [xp], [args[5]])
            acc_v = _scaled(builder, _from_tuple(builder, args[0]), _halves(builder, sp, 0), args[4], total)
            return _as_tuple(context, builder, acc_v)

        return ACC(acc, w, scales, x, types.float32, types.int32), codegen

    def rows4(kind):
        def typer(typingctx, acc4, w, scales, x4, dx4, third4):
            def codegen(context, builder, sig, args):
                wp, sp = _pointers(context, builder, sig, args, (1, 2))
                xps = _row_pointers(context, builder, sig.args[3], args[3], ROWS)
                dxs = [_scalar(builder, p, F32) for p in _row_pointers(context, builder, sig.args[4], args[4], ROWS)]
                third = _row_pointers(context, builder, sig.args[5], args[5], ROWS)
                d = _halves(builder, sp, 0)
                if kind == "q4_1":
                    totals, m = _q4_1_totals(builder, isa, wp, xps), _halves(builder, sp, 1)
                    sxs = [_scalar(builder, p, F32) for p in third]
                else:
                    totals, m = _q8_0_totals(builder, isa, wp, xps, [_scalar(builder, p, I32) for p in third]), None
                    sxs = [None] * ROWS
                out = context.get_constant_undef(ACC4)
                for i in range(ROWS):
                    acc_v = _from_tuple(builder, builder.extract_value(args[0], i))
                    acc_v = _scaled(builder, acc_v, d, dxs[i], totals[i], m, sxs[i])
                    out = builder.insert_value(out, _as_tuple(context, builder, acc_v), i)
                return out

            return ACC4(acc4, w, scales, x4, dx4, third4), codegen

        typer.__doc__ = (f"block_{kind} for 4 activation rows at once, each weight chunk loaded and unpacked "
                         "once: x4 (4, 32) int8, dx4 (4,) float32 and " +
                         ("sx4 (4,) float32" if kind == "q4_1" else "the rows' int32 sums of x (4,)") +
                         " (views along the rows, strided).")
        return typer

    made = {"block_q4_1": block_q4_1, "block_q8_0": block_q8_0, "rows4_q4_1": rows4("q4_1"), "rows4_q8_0": rows4("q8_0")}
    for name, typer in made.items():  # one name per instruction set: Numba keys intrinsics on their names
        typer.__name__ = typer.__qualname__ = f"{name}_{isa}"
    return {name: intrinsic(typer) for name, typer in made.items()}


INTRINSICS = {isa: _make_intrinsics(isa) for isa in ISAS}
