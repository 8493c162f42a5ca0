"""AVX-512 VNNI block dot products as Numba intrinsics: `vpdpbusd` written into the LLVM IR directly.

Why by hand: from plain integer loops LLVM (llvmlite 0.50) emits `vpmaddwd` for Q4_1 and `vpmulld` for
Q8_0, never `vpdpbusd`, and ran 2.6x slower on SmolLM2's gate/up matrix. `vpdpbusd` multiplies 64
unsigned bytes by 64 signed bytes and adds each 4 neighbouring products into one of 16 int32 lanes, so
the weights are laid out for it (quant_cpu "lanes"): a block of 16 rows is chunks of 64 bytes, lane r
holding 4 consecutive quants of row r, and the 4 matching activation bytes are broadcast to every lane.
- Q4_1: 4 chunks of nibble pairs; byte k of lane r in chunk c holds element 4c+k (low nibble) and
  16+4c+k (high nibble) of row r. 8 `vpdpbusd` per block (low nibbles, then high ones).
- Q8_0: 8 chunks of quants offset by +128 (unsigned); the sum then holds 128 * sum(x) too, which the
  caller takes off with the activation block's integer sum.
The block's scales stay fp16 as in the file (16 d, then for Q4_1 16 minimums m, per block of 16 rows)
and are widened in registers (`vcvtph2ps`), so the kernels read the file's bytes and no more. Each
intrinsic adds one block to 16 float32 accumulators passed in and out as a tuple (kept in a register after
inlining): acc += d * dx * sum (+ m * sx for Q4_1); `rows4_*` do four activation rows per weight chunk
(prefill, batches). `widen_half` is the same fp16 widening for one value, for the plain-loop kernels of
hosts without VNNI, and `float_from_bits` a bitcast (bfloat16 weights, a vectorisable exp).
`available()` says whether Numba compiles for a CPU with avx512vnni.
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

I8, I16, I32, I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16, F32 = ir.HalfType(), ir.FloatType()
BYTES = ir.VectorType(I8, 64)
LANES32 = ir.VectorType(I32, 16)
FLOATS = ir.VectorType(F32, 16)
HALVES = ir.VectorType(F16, 16)
ACC = types.UniTuple(types.float32, 16)


def available() -> bool:
    """True when the features Numba compiles for include AVX-512 VNNI (NUMBA_CPU_FEATURES or the host's)."""
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if not features:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+avx512vnni" in features.split(",")


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
def block_q4_1(typingctx, acc, w, scales, x, dx, sx):
    """acc + d * dx * sum(q * x) + m * sx for one block of 16 rows: w 256 uint8 (see the module docstring),
    scales 32 uint16 (fp16 d, then m), x the block's 32 int8 activations, dx its scale, sx = dx * sum(x)."""

    def codegen(context, builder, sig, args):
        acc_v = _from_tuple(builder, args[0])
        wp, sp = _pointers(context, builder, sig, args, (1, 2))
        xp = _pointer(context, builder, sig.args[3], args[3])
        dp = _dpbusd(builder)
        low, shift = ir.Constant(BYTES, [15] * 64), ir.Constant(BYTES, [4] * 64)
        total = ir.Constant(LANES32, [0] * 16)
        for c in range(4):
            v = _chunk(builder, wp, c)
            total = dp(total, builder.and_(v, low), _broadcast4(builder, xp, 4 * c))
            total = dp(total, builder.and_(builder.lshr(v, shift), low), _broadcast4(builder, xp, 16 + 4 * c))
        scaled = builder.fmul(_halves(builder, sp, 0), _splat(builder, args[4]))
        acc_v = builder.fadd(acc_v, builder.fmul(scaled, builder.sitofp(total, FLOATS)))
        acc_v = builder.fadd(acc_v, builder.fmul(_halves(builder, sp, 1), _splat(builder, args[5])))
        return _as_tuple(context, builder, acc_v)

    return ACC(acc, w, scales, x, types.float32, types.float32), codegen


@intrinsic
def block_q8_0(typingctx, acc, w, scales, x, dx, offset):
    """acc + d * dx * (sum((q + 128) * x) - offset) for one block of 16 rows: w 512 uint8 (quants + 128),
    scales 16 uint16 (fp16 d), x 32 int8, dx its scale, offset = 128 * sum(x) (int32)."""

    def codegen(context, builder, sig, args):
        acc_v = _from_tuple(builder, args[0])
        wp, sp = _pointers(context, builder, sig, args, (1, 2))
        xp = _pointer(context, builder, sig.args[3], args[3])
        dp = _dpbusd(builder)
        total = ir.Constant(LANES32, [0] * 16)
        for c in range(8):
            total = dp(total, _chunk(builder, wp, c), _broadcast4(builder, xp, 4 * c))
        off = builder.insert_element(ir.Constant(LANES32, ir.Undefined), args[5], ir.Constant(I32, 0))
        off = builder.shuffle_vector(off, ir.Constant(LANES32, ir.Undefined), ir.Constant(LANES32, [0] * 16))
        sums = builder.sitofp(builder.sub(total, off), FLOATS)
        scaled = builder.fmul(_halves(builder, sp, 0), _splat(builder, args[4]))
        return _as_tuple(context, builder, builder.fadd(acc_v, builder.fmul(scaled, sums)))

    return ACC(acc, w, scales, x, types.float32, types.int32), codegen


@intrinsic
def widen_half(typingctx, halves, index):
    """float32 of the fp16 value halves[index] (a uint16 array holding fp16 bits)."""

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(arr.data, [args[1]]), F16.as_pointer())
        return builder.fpext(builder.load(ptr), F32)

    return types.float32(halves, types.intp), codegen


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


@intrinsic
def rows4_q4_1(typingctx, acc4, w, scales, x4, dx4, sx4):
    """block_q4_1 for 4 activation rows at once, each weight chunk loaded and unpacked once: x4 (4, 32)
    int8, dx4 / sx4 (4,) float32 (views along the rows, strided)."""

    def codegen(context, builder, sig, args):
        wp, sp = _pointers(context, builder, sig, args, (1, 2))
        xs = _row_pointers(context, builder, sig.args[3], args[3], ROWS)
        dxs = [_scalar(builder, p, F32) for p in _row_pointers(context, builder, sig.args[4], args[4], ROWS)]
        sxs = [_scalar(builder, p, F32) for p in _row_pointers(context, builder, sig.args[5], args[5], ROWS)]
        dp = _dpbusd(builder)
        low, shift = ir.Constant(BYTES, [15] * 64), ir.Constant(BYTES, [4] * 64)
        totals = [ir.Constant(LANES32, [0] * 16)] * ROWS
        for c in range(4):
            v = _chunk(builder, wp, c)
            lo, hi = builder.and_(v, low), builder.and_(builder.lshr(v, shift), low)
            totals = [dp(dp(t, lo, _broadcast4(builder, xp, 4 * c)), hi, _broadcast4(builder, xp, 16 + 4 * c))
                      for t, xp in zip(totals, xs)]
        d, m = _halves(builder, sp, 0), _halves(builder, sp, 1)
        out = context.get_constant_undef(ACC4)
        for i in range(ROWS):
            acc_v = _from_tuple(builder, builder.extract_value(args[0], i))
            acc_v = builder.fadd(acc_v, builder.fmul(builder.fmul(d, _splat(builder, dxs[i])), builder.sitofp(totals[i], FLOATS)))
            acc_v = builder.fadd(acc_v, builder.fmul(m, _splat(builder, sxs[i])))
            out = builder.insert_value(out, _as_tuple(context, builder, acc_v), i)
        return out

    return ACC4(acc4, w, scales, x4, dx4, sx4), codegen


@intrinsic
def rows4_q8_0(typingctx, acc4, w, scales, x4, dx4, sums4):
    """block_q8_0 for 4 activation rows at once; sums4 (4,) int32 integer sums of each row's block."""

    def codegen(context, builder, sig, args):
        wp, sp = _pointers(context, builder, sig, args, (1, 2))
        xs = _row_pointers(context, builder, sig.args[3], args[3], ROWS)
        dxs = [_scalar(builder, p, F32) for p in _row_pointers(context, builder, sig.args[4], args[4], ROWS)]
        sums = [_scalar(builder, p, I32) for p in _row_pointers(context, builder, sig.args[5], args[5], ROWS)]
        dp = _dpbusd(builder)
        totals = [ir.Constant(LANES32, [0] * 16)] * ROWS
        for c in range(8):
            v = _chunk(builder, wp, c)
            totals = [dp(t, v, _broadcast4(builder, xp, 4 * c)) for t, xp in zip(totals, xs)]
        d = _halves(builder, sp, 0)
        out = context.get_constant_undef(ACC4)
        for i in range(ROWS):
            off = builder.mul(sums[i], ir.Constant(I32, 128))
            off = builder.insert_element(ir.Constant(LANES32, ir.Undefined), off, ir.Constant(I32, 0))
            off = builder.shuffle_vector(off, ir.Constant(LANES32, ir.Undefined), ir.Constant(LANES32, [0] * 16))
            acc_v = _from_tuple(builder, builder.extract_value(args[0], i))
            summed = builder.sitofp(builder.sub(totals[i], off), FLOATS)
            acc_v = builder.fadd(acc_v, builder.fmul(builder.fmul(d, _splat(builder, dxs[i])), summed))
            out = builder.insert_value(out, _as_tuple(context, builder, acc_v), i)
        return out

    return ACC4(acc4, w, scales, x4, dx4, sums4), codegen


@intrinsic
def float_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the int32 `bits` (a bitcast, which Numba has no scalar form of)."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], F32)

    return types.float32(types.int32), codegen
